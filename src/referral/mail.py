"""E-mail over SMTP, with the standard library only.

An e-mail about a notice says that there is an update and links to it; nothing else. The
subject names the case (or meeting) number, the body the link: no name, no outcome, no
content, since e-mail leaves the service's control. The notice itself is read in the app,
after signing in.
"""

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from referral.config import Settings

BODY = """\
There is an update for you in referral.

{url}

Sign in to read it. To protect the people it concerns, this e-mail carries no details.
"""


@dataclass(frozen=True)
class SmtpMailer:
    """Where and how to send: from settings (`from_settings`), or a test's own server."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str = ""
    sender: str = "referral@localhost"
    base_url: str = "http://127.0.0.1:8000"
    timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmtpMailer | None":
        """The configured mailer, or None when e-mail is off (no REFERRAL_SMTP_HOST)."""
        if settings.smtp_host is None:
            return None
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username,
            password=password.get_secret_value() if password else "",
            sender=settings.mail_from,
            base_url=settings.public_base_url,
            timeout=settings.smtp_timeout_seconds,
        )

    def compose(self, to: str, case_id: int | None, link: str) -> EmailMessage:
        """The e-mail for one notice: the case number at most, and a link to `link` (a path)."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = (
            f"referral: an update on case #{case_id}" if case_id else "referral: an update for you"
        )
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(BODY.format(url=self.base_url.rstrip("/") + link))
        return message

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        """One SMTP session for a batch of e-mails; raises OSError or SMTPException."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username:
                smtp.login(self.username, self.password)
            yield smtp


def error_text(exc: BaseException) -> str:
    """What went wrong, without what the server said (it may quote the address)."""
    name = type(exc).__name__
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{name} (SMTP {exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"{name} (SMTP {', '.join(map(str, codes))})"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{name} (errno {exc.errno})"
    return name
