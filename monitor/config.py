"""Configuration: one catalogue of settings, read from the environment.

Every setting is declared once in ``SETTINGS`` with its default and help text
(the README's table is checked against this catalogue by a test). Nothing is
read at import time: ``Config.from_env()`` is called by the CLI and by the
crawl process, and tests build a ``Config`` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MONITOR_ALLOWED_ADDRESSES",
        "",
        "Comma-separated networks (CIDR) that every crawl may reach although they are "
        "private, e.g. a test site on 127.0.0.1/32. Prefer `site add --allow-private`.",
    ),
    Setting(
        "MONITOR_DATABASE_URL",
        "sqlite:///<var>/monitor.db",
        "SQLAlchemy URL of the database (SQLite or PostgreSQL).",
    ),
    Setting("MONITOR_DNS_TIMEOUT", "10", "Seconds allowed for one DNS lookup during a crawl."),
    Setting("MONITOR_DOWNLOAD_TIMEOUT", "30", "Seconds allowed for one download during a crawl."),
    Setting(
        "MONITOR_HASH_WORKERS",
        "<usable cores>",
        "Processes that decode and hash a crawl's images beside it (0: in the crawl process).",
    ),
    Setting(
        "MONITOR_MAX_IMAGE_BYTES",
        str(25 * 1024 * 1024),
        "Images larger than this many bytes are not downloaded (counted as too large).",
    ),
    Setting(
        "MONITOR_MAX_IMAGE_PIXELS",
        str(64_000_000),
        "Images declaring more pixels than this are refused before decoding (decompression bombs).",
    ),
    Setting(
        "MONITOR_MAX_VIDEO_BYTES",
        str(64 * 1024 * 1024),
        "Of a video, at most this many bytes are fetched and hashed (in memory): a longer "
        "file's start, and its end, with range requests; from a server without ranges it "
        "is not fetched (counted as too large). 0: videos are not fetched.",
    ),
    Setting(
        "MONITOR_VIDEO_SECONDS",
        "120",
        "Seconds one video may take to decode and hash; the frames hashed by then are kept.",
    ),
    Setting(
        "MONITOR_MAX_PAGE_BYTES",
        str(10 * 1024 * 1024),
        "HTML pages and sitemaps larger than this many bytes are not downloaded.",
    ),
    Setting(
        "MONITOR_SECRET_KEY",
        "",
        "Fernet key that encrypts victims' personal data. Empty: a key file "
        "<var>/secret.key is created on first use with mode 0600.",
    ),
    Setting(
        "MONITOR_SECRET_KEY_FILE",
        "<var>/secret.key",
        "The key file when MONITOR_SECRET_KEY is empty: one Fernet key per line, the first "
        "encrypts, every one decrypts (`monitor keys rotate`). Keep it off the database's disk "
        "and out of its backups.",
    ),
    Setting(
        "MONITOR_AUDIT_KEY",
        "",
        "Key of the audit log's hash chain (HMAC-SHA256). Empty: a file audit.key beside the "
        "key file, created on first use with mode 0600.",
    ),
    Setting(
        "MONITOR_RETAIN_EVIDENCE_DAYS",
        "365",
        "Sightings and rejected hits not seen for this many days are deleted by the housekeeping "
        "(hits a notice covers, and confirmed hits of open cases, are kept). 0: kept forever.",
    ),
    Setting(
        "MONITOR_RETAIN_LOG_DAYS",
        "90",
        "Finished crawl runs, sent or failed emails, expired web sessions and failed logins "
        "older than this many days are deleted by the housekeeping. 0: kept forever.",
    ),
    Setting(
        "MONITOR_RETAIN_AUDIT_DAYS",
        "1825",
        "Audit events older than this many days are pruned by the housekeeping (the oldest "
        "first, keeping the hash chain checkable). 0: kept forever.",
    ),
    Setting("MONITOR_USER_AGENT", "ncii-monitor/0.1", "User-Agent header sent by the crawler."),
    Setting("MONITOR_VAR_DIR", "./var", "Folder for the embedded database and the key file."),
    Setting(
        "MONITOR_ACTOR", "<login name>", "Who the audit log names as the actor of CLI actions."
    ),
    Setting(
        "MONITOR_SMTP_URL",
        "",
        "Where alerts are sent: smtp://user:pass@host:587?starttls=true, smtps://user:pass@host:465,"
        " or smtp://host:25. Empty: `monitor alerts send` queues but cannot deliver.",
    ),
    Setting(
        "MONITOR_MAIL_FROM",
        "",
        "Sender address of alerts. Choose one that says nothing of what the alerts are about.",
    ),
    Setting(
        "MONITOR_MAIL_FROM_NAME",
        "Notifications",
        "Sender name of alerts: neutral, for someone looking over the victim's shoulder.",
    ),
    Setting(
        "MONITOR_PUBLIC_URL",
        "",
        "Public base URL of `monitor alerts serve-links` (behind a reverse proxy), for the pause"
        " and stop links in every alert. Empty: alerts say to reply instead.",
    ),
    Setting(
        "MONITOR_INSTANCE_NAME",
        "ncii-monitor",
        "This instance's name, written as the origin of the hash lists it exports.",
    ),
    Setting(
        "MONITOR_ORG_NAME",
        "",
        "The organisation that sends takedown notices (named in them as the notifier).",
    ),
    Setting(
        "MONITOR_ORG_EMAIL",
        "",
        "The address takedown notices give for replies, and send from when exported.",
    ),
    Setting(
        "MONITOR_ESCALATE_DAYS",
        "7",
        "Days after a notice was sent with its images still online before `monitor takedowns"
        " recheck` drafts the next notice (to the next recipient, or the same one again).",
    ),
    Setting(
        "MONITOR_RDAP_BOOTSTRAP",
        "https://data.iana.org/rdap/",
        "Where the IANA RDAP bootstrap files (dns.json, ipv4.json, ipv6.json) are read, to find"
        " the RDAP server of a domain or an address when looking for notice recipients.",
    ),
    Setting(
        "MONITOR_HELPLINES",
        "<bundled>",
        'JSON file of support helplines by country code (and "*" for everywhere) named in alerts.',
    ),
    Setting(
        "MONITOR_SCHEDULE",
        "every 1d",
        "The crawl schedule of sites that have none of their own nor a group's: 'every N'"
        " with a unit s, m, h, d or w, or a crontab line (UTC).",
    ),
    Setting(
        "MONITOR_SCHEDULE_JITTER",
        "600",
        "Seconds of random delay added to each scheduled start, unless a site or its group"
        " says otherwise.",
    ),
    Setting(
        "MONITOR_RUN_TIME_BUDGET",
        "3600",
        "Seconds a crawl run may take unless its site says otherwise; then it closes itself"
        " (killed if it overruns by the grace period).",
    ),
    Setting(
        "MONITOR_MAX_CRAWLS",
        "2",
        "Crawl processes the scheduler runs at once on this machine (without a broker).",
    ),
    Setting(
        "MONITOR_BROKER_URL",
        "",
        "Celery broker (redis://… or amqp://…): the scheduler queues runs for `monitor"
        " worker` processes on any machine. Unset: crawls run as local processes.",
    ),
    Setting(
        "MONITOR_OPERATOR_EMAIL",
        "",
        "Where operators' health notifications go (a site failing, recovering).",
    ),
    Setting("MONITOR_HEALTH_FAILURES", "3", "Failed runs in a row that make a site failing."),
    Setting(
        "MONITOR_HEALTH_ERROR_RATE",
        "0.5",
        "Share of errors in what a run fetched above which its site is failing.",
    ),
    Setting(
        "MONITOR_HEALTH_COOLDOWN",
        "24",
        "Hours before a site still failing raises its notification again.",
    ),
    Setting(
        "MONITOR_SCHEDULER_INTERVALS",
        "",
        "The scheduler's own timings in seconds, e.g. 'heartbeat=5,lock_ttl=30,sync=10,"
        "dispatch=2,reap=60,lost_after=120,alerts=300,recheck=21600,resend=300' (the defaults).",
    ),
    Setting(
        "MONITOR_WEB_HOST",
        "127.0.0.1",
        "Address `monitor web` listens on. Keep it on loopback behind a TLS reverse proxy.",
    ),
    Setting("MONITOR_WEB_PORT", "8765", "Port `monitor web` listens on."),
    Setting(
        "MONITOR_WEB_SESSION_HOURS",
        "8",
        "Hours a web sign-in lasts (it also ends after an hour of inactivity, at logout, and"
        " when the account is disabled or its password changed).",
    ),
    Setting(
        "MONITOR_WEB_PROXIES",
        "",
        "Comma-separated addresses of reverse proxies whose X-Forwarded-For/-Proto headers"
        " `monitor web` trusts (the client address counts in the login rate limit).",
    ),
)

SETTING_NAMES = frozenset(s.name for s in SETTINGS)


class ConfigError(ValueError):
    """A setting has a value that cannot be used."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from exc


def _default_actor() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "cli"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Config:
    var_dir: Path
    database_url: str
    secret_key: str = ""
    #: None: ``var_dir / "secret.key"``.
    secret_key_file: Path | None = None
    audit_key: str = ""
    #: The origin written in exported hash lists.
    instance_name: str = "ncii-monitor"
    retain_evidence_days: int = 365
    retain_log_days: int = 90
    retain_audit_days: int = 1825
    max_image_bytes: int = 25 * 1024 * 1024
    hash_workers: int = 1  # from_env: every usable core
    max_image_pixels: int = 64_000_000
    max_page_bytes: int = 10 * 1024 * 1024
    max_video_bytes: int = 64 * 1024 * 1024
    video_seconds: float = 120.0
    download_timeout: float = 30.0
    dns_timeout: float = 10.0
    user_agent: str = "ncii-monitor/0.1"
    actor: str = "cli"
    allowed_addresses: tuple[str, ...] = ()
    smtp_url: str = ""
    mail_from: str = ""
    mail_from_name: str = "Notifications"
    helplines: Path | None = None  # None: the bundled monitor/data/helplines.json
    rdap_bootstrap: str = "https://data.iana.org/rdap/"
    org_name: str = ""
    public_url: str = ""
    escalate_days: float = 7.0
    org_email: str = ""
    schedule: str = "every 1d"
    schedule_jitter: int = 600
    run_time_budget: int = 3600
    max_crawls: int = 2
    broker_url: str = ""
    scheduler_intervals: str = ""
    operator_email: str = ""
    health_failures: int = 3
    health_error_rate: float = 0.5
    health_cooldown_hours: float = 24.0
    web_host: str = "127.0.0.1"
    web_port: int = 8765
    web_session_hours: float = 8.0
    web_proxies: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        var_dir = Path(env.get("MONITOR_VAR_DIR") or "./var").expanduser().resolve()
        url = env.get("MONITOR_DATABASE_URL") or f"sqlite:///{var_dir / 'monitor.db'}"
        return cls(
            var_dir=var_dir,
            database_url=_absolute_sqlite_url(url),
            secret_key=env.get("MONITOR_SECRET_KEY", ""),
            secret_key_file=(
                Path(env["MONITOR_SECRET_KEY_FILE"]).expanduser().resolve()
                if env.get("MONITOR_SECRET_KEY_FILE")
                else None
            ),
            audit_key=env.get("MONITOR_AUDIT_KEY", "").strip(),
            retain_evidence_days=max(0, _int(env, "MONITOR_RETAIN_EVIDENCE_DAYS", 365)),
            retain_log_days=max(0, _int(env, "MONITOR_RETAIN_LOG_DAYS", 90)),
            retain_audit_days=max(0, _int(env, "MONITOR_RETAIN_AUDIT_DAYS", 1825)),
            max_image_bytes=_int(env, "MONITOR_MAX_IMAGE_BYTES", 25 * 1024 * 1024),
            hash_workers=_int(env, "MONITOR_HASH_WORKERS", usable_cores()),
            max_image_pixels=_int(env, "MONITOR_MAX_IMAGE_PIXELS", 64_000_000),
            max_page_bytes=_int(env, "MONITOR_MAX_PAGE_BYTES", 10 * 1024 * 1024),
            max_video_bytes=max(0, _int(env, "MONITOR_MAX_VIDEO_BYTES", 64 * 1024 * 1024)),
            video_seconds=_float(env, "MONITOR_VIDEO_SECONDS", 120.0),
            download_timeout=_float(env, "MONITOR_DOWNLOAD_TIMEOUT", 30.0),
            dns_timeout=_float(env, "MONITOR_DNS_TIMEOUT", 10.0),
            user_agent=env.get("MONITOR_USER_AGENT") or "ncii-monitor/0.1",
            actor=env.get("MONITOR_ACTOR") or _default_actor(),
            allowed_addresses=_networks(env.get("MONITOR_ALLOWED_ADDRESSES", "")),
            smtp_url=env.get("MONITOR_SMTP_URL", "").strip(),
            mail_from=env.get("MONITOR_MAIL_FROM", "").strip(),
            mail_from_name=env.get("MONITOR_MAIL_FROM_NAME", "").strip() or "Notifications",
            helplines=Path(env["MONITOR_HELPLINES"]) if env.get("MONITOR_HELPLINES") else None,
            org_name=env.get("MONITOR_ORG_NAME", "").strip(),
            instance_name=env.get("MONITOR_INSTANCE_NAME", "").strip() or "ncii-monitor",
            public_url=env.get("MONITOR_PUBLIC_URL", "").strip().rstrip("/"),
            escalate_days=_float(env, "MONITOR_ESCALATE_DAYS", 7.0),
            org_email=env.get("MONITOR_ORG_EMAIL", "").strip(),
            rdap_bootstrap=_slash(
                env.get("MONITOR_RDAP_BOOTSTRAP") or "https://data.iana.org/rdap/"
            ),
            schedule=_schedule(env.get("MONITOR_SCHEDULE", "").strip() or "every 1d"),
            schedule_jitter=_int(env, "MONITOR_SCHEDULE_JITTER", 600),
            run_time_budget=_int(env, "MONITOR_RUN_TIME_BUDGET", 3600),
            max_crawls=max(1, _int(env, "MONITOR_MAX_CRAWLS", 2)),
            broker_url=env.get("MONITOR_BROKER_URL", "").strip(),
            scheduler_intervals=env.get("MONITOR_SCHEDULER_INTERVALS", "").strip(),
            operator_email=env.get("MONITOR_OPERATOR_EMAIL", "").strip(),
            health_failures=max(1, _int(env, "MONITOR_HEALTH_FAILURES", 3)),
            health_error_rate=_float(env, "MONITOR_HEALTH_ERROR_RATE", 0.5),
            health_cooldown_hours=_float(env, "MONITOR_HEALTH_COOLDOWN", 24.0),
            web_host=env.get("MONITOR_WEB_HOST", "").strip() or "127.0.0.1",
            web_port=_int(env, "MONITOR_WEB_PORT", 8765),
            web_session_hours=_float(env, "MONITOR_WEB_SESSION_HOURS", 8.0),
            web_proxies=env.get("MONITOR_WEB_PROXIES", "").strip(),
        )

    def shown(self) -> list[tuple[Setting, str]]:
        """Each setting with the value in use, secrets masked (for the admins' page)."""
        attributes = {"MONITOR_HEALTH_COOLDOWN": "health_cooldown_hours"}
        shown = []
        for setting in SETTINGS:
            value = getattr(self, attributes.get(setting.name, setting.name[8:].lower()), "")
            text = ",".join(value) if isinstance(value, tuple) else str(value or "")
            if setting.name == "MONITOR_SECRET_KEY":
                text = "(set)" if text else "(in the key file)"
            elif setting.name == "MONITOR_AUDIT_KEY":
                text = "(set)" if text else "(audit.key beside the key file)"
            elif setting.name == "MONITOR_SECRET_KEY_FILE":
                text = str(self.key_file)
            elif "://" in text:
                text = _mask_password(text)
            shown.append((setting, text))
        return shown

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces this configuration in a child process."""
        env = {
            "MONITOR_VAR_DIR": str(self.var_dir),
            "MONITOR_DATABASE_URL": self.database_url,
            "MONITOR_MAX_IMAGE_BYTES": str(self.max_image_bytes),
            "MONITOR_HASH_WORKERS": str(self.hash_workers),
            "MONITOR_MAX_IMAGE_PIXELS": str(self.max_image_pixels),
            "MONITOR_MAX_PAGE_BYTES": str(self.max_page_bytes),
            "MONITOR_MAX_VIDEO_BYTES": str(self.max_video_bytes),
            "MONITOR_VIDEO_SECONDS": str(self.video_seconds),
            "MONITOR_DOWNLOAD_TIMEOUT": str(self.download_timeout),
            "MONITOR_DNS_TIMEOUT": str(self.dns_timeout),
            "MONITOR_USER_AGENT": self.user_agent,
            "MONITOR_ACTOR": self.actor,
            "MONITOR_RUN_TIME_BUDGET": str(self.run_time_budget),
        }
        if self.allowed_addresses:
            env["MONITOR_ALLOWED_ADDRESSES"] = ",".join(self.allowed_addresses)
        if self.secret_key:
            env["MONITOR_SECRET_KEY"] = self.secret_key
        if self.secret_key_file is not None:
            env["MONITOR_SECRET_KEY_FILE"] = str(self.secret_key_file)
        if self.audit_key:
            env["MONITOR_AUDIT_KEY"] = self.audit_key
        if self.instance_name != "ncii-monitor":
            env["MONITOR_INSTANCE_NAME"] = self.instance_name
        return env

    @property
    def key_file(self) -> Path:
        """Where the keys are kept when MONITOR_SECRET_KEY is empty."""
        return self.secret_key_file or self.var_dir / "secret.key"


def _mask_password(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:***@host/db"""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def _schedule(text: str) -> str:
    from monitor.errors import InvalidInput
    from monitor.schedules import parse  # the same rule as a site's --schedule

    try:
        return parse(text)[0]
    except InvalidInput as exc:
        raise ConfigError(f"MONITOR_SCHEDULE: {exc}") from exc


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _networks(raw: str) -> tuple[str, ...]:
    import ipaddress

    networks = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ConfigError(f"MONITOR_ALLOWED_ADDRESSES: not a network: {part!r}") from exc
    return tuple(networks)


def _absolute_sqlite_url(url: str) -> str:
    """Make a relative SQLite path absolute, so child processes find the same file."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        path = url[len(prefix) :]
        if path and not path.startswith("/"):
            return prefix + str(Path(path).resolve())
    return url
