from referral.cli import main

main()
