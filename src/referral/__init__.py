"""referral: a workflow and case-management engine for multi-agency prevention referrals."""

__version__ = "0.1.0"
