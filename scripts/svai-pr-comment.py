#!/usr/bin/env python3
"""Post (or update) the one sticky svai comment on a pull request.

Run by the svai GitHub Action (``action.yml``) after svai is installed. For each spec it runs
``svai diff BASE HEAD -f SPEC --format markdown`` (what this pull request changes),
``svai plan SPEC --format markdown`` (the plan at HEAD) and ``svai check SPEC --format json``
(the production-readiness findings), joins them under the hidden marker ``<!-- svai-plan -->``
and then either writes the body to a file (``--dry-run``) or finds the pull request's comment
carrying the marker through the GitHub REST API and updates it, creating it the first time.

The diff is asked for as ``svai diff BASE HEAD -- SPEC``: with ``--`` both sides are git
revisions read from git objects, so a file in the pull request named like the base branch
cannot stand in for it. Only a comment written by the token's own identity is the sticky one:
anyone can write the marker into a comment, and editing theirs would fail (or, with more rights,
overwrite their text). The identity is ``GET /user``'s login for a user token; an app
installation token (the workflow's ``GITHUB_TOKEN``, a GitHub App's token) cannot read
``/user`` (403) nor ``/app`` (which needs the app's JWT), so its comments are matched by the bot
login given with ``--bot-login`` / ``SVAI_BOT_LOGIN`` (default ``github-actions[bot]``, the
author of ``GITHUB_TOKEN``'s comments; a GitHub App's is ``<app-slug>[bot]``).

Standard library only (urllib), so it runs before or without any dependency install.

Environment: ``GITHUB_TOKEN`` (required unless ``--dry-run``), ``GITHUB_REPOSITORY``
(``owner/name``), ``GITHUB_API_URL`` (default ``https://api.github.com``), ``GITHUB_EVENT_PATH``
(the pull request number is read from it when ``--pr`` is not given), ``GITHUB_STEP_SUMMARY``
(the body is appended to it when set), ``SVAI_BOT_LOGIN`` (see above).
``SVAI_COMMENT_DRY_RUN=1`` is the same as ``--dry-run``.

Exit codes: 0 the comment was written; 1 svai could not plan a spec (the comment says why);
2 bad arguments or a GitHub API error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

MARKER = "<!-- svai-plan -->"
BOT_LOGIN = "github-actions[bot]"
"""Who the comments of the workflow's ``GITHUB_TOKEN`` are by."""
MAX_BODY = 65_000
"""GitHub refuses comment bodies over 65,536 characters; longer bodies are cut with a note."""
_HIGH_MEDIUM = ("high", "medium")


def _svai_command(given: str | None) -> list[str]:
    if given:
        return given.split()
    found = shutil.which("svai")
    return [found] if found else [sys.executable, "-m", "svai.cli.main"]


def _run(svai: list[str], args: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*svai, *args], cwd=cwd, capture_output=True, text=True, check=False, encoding="utf-8"
    )


def _failure(title: str, run: subprocess.CompletedProcess[str]) -> str:
    detail = (run.stderr or run.stdout).strip() or f"exit code {run.returncode}"
    return f"#### {title}\n\n```\n{detail[-4000:]}\n```\n"


def _readiness(report: dict[str, Any]) -> str:
    counts = report["counts"]
    lines = [
        f"**Readiness (`svai check`):** {counts['high']} high · {counts['medium']} medium · "
        f"{counts['low']} low",
    ]
    shown = [f for f in report["findings"] if f["severity"] in _HIGH_MEDIUM]
    if shown:
        lines.append("")
    for f in shown:
        where = f" {f['target']}" if f.get("target") else ""
        resource = f" `{f['resource']}`" if f.get("resource") else ""
        lines.append(
            f"- **{f['severity']}** `{f['rule']}`{where}{resource}: {' '.join(f['message'].split())}"
        )
    return "\n".join(lines) + "\n"


def render_body(
    specs: Sequence[str], base: str, head: str, svai: list[str], cwd: Path
) -> tuple[str, bool]:
    """Return the comment body for ``specs`` and whether every spec planned."""
    sections = [MARKER]
    ok = True
    for spec in specs:
        # `--`: both sides are revisions, read from git objects (never a work-tree file).
        diff = _run(svai, ["diff", "--format", "markdown", base, head, "--", spec], cwd)
        if diff.returncode in (0, 1):
            sections.append(diff.stdout.rstrip("\n") + "\n")
        else:
            ok = False
            sections.append(_failure(f"svai diff {base} {head} -- {spec} failed", diff))
        plan = _run(svai, ["plan", spec, "--format", "markdown"], cwd)
        if plan.returncode == 0:
            sections.append(plan.stdout.rstrip("\n") + "\n")
        else:
            ok = False
            sections.append(_failure(f"svai plan {spec} failed", plan))
            continue
        check = _run(svai, ["check", spec, "--format", "json", "--fail-on", "never"], cwd)
        if check.returncode == 0:
            sections.append(_readiness(json.loads(check.stdout)))
        else:
            ok = False
            sections.append(_failure(f"svai check {spec} failed", check))
    body = "\n".join(sections)
    if len(body) > MAX_BODY:
        note = "\n\n_(cut: the full plan is in the job summary)_\n"
        body = body[: MAX_BODY - len(note)] + note
    return body, ok


class ApiError(Exception):
    """A GitHub REST call that failed: the method, path, status and GitHub's message."""

    def __init__(self, message: str, status: int = 0) -> None:
        """Say what failed; ``status`` is the HTTP status (0 when none was received)."""
        super().__init__(message)
        self.status = status


class GitHub:
    """The few REST calls the sticky comment needs."""

    def __init__(self, api_url: str, repo: str, token: str) -> None:
        """Talk to ``api_url`` about ``repo`` (``owner/name``) with ``token``."""
        self.api_url = api_url.rstrip("/")
        self.repo = repo
        self.token = token

    def _call(
        self, method: str, path: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, str]:
        """Return the decoded JSON answer and the ``Link`` header (``""`` when absent)."""
        url = path if path.startswith(self.api_url + "/") else f"{self.api_url}{path}"
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            url,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "svai-pr-comment",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null"), response.headers.get("Link", "")
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read() or b"{}").get("message", "")
            except ValueError:
                message = ""
            where = url.removeprefix(self.api_url)
            raise ApiError(f"{method} {where}: HTTP {exc.code} {message}", exc.code) from None

    def login(self, bot_login: str) -> str:
        """Return the login this token's comments are written by.

        A user token reads it from ``GET /user``. An app installation token gets 403 there
        ("Resource not accessible by integration"), and ``GET /app`` needs the app's JWT, which
        an installation token is not; its comments are by the app's bot, ``bot_login``.
        """
        try:
            user, _ = self._call("GET", "/user")
        except ApiError as exc:
            if exc.status == 403:
                return bot_login
            raise
        return str(user["login"])

    def comments(self, pr: int) -> Iterator[dict[str, Any]]:
        """Every comment of the pull request, following GitHub's ``Link: rel="next"`` pages."""
        path: str | None = f"/repos/{self.repo}/issues/{pr}/comments?per_page=100"
        while path:
            page, link = self._call("GET", path)
            yield from page
            path = _next_page(link)
            if path and not path.startswith(self.api_url + "/"):
                raise ApiError(f"refusing to follow a next page outside {self.api_url}: {path}")

    def upsert(self, pr: int, body: str, bot_login: str = BOT_LOGIN) -> tuple[str, int]:
        """Update our sticky comment, or create it; return ("updated"|"created", its id).

        Ours is the first comment that starts with the marker *and* is by this token's login;
        a marker comment by anyone else is left alone (and reported on stderr).
        """
        me = self.login(bot_login)
        mine = None
        for comment in self.comments(pr):
            if not (comment.get("body") or "").startswith(MARKER):
                continue
            author = str((comment.get("user") or {}).get("login", ""))
            if author.lower() == me.lower() and mine is None:
                mine = int(comment["id"])
            elif author.lower() != me.lower():
                print(
                    f"svai-pr-comment: ignoring comment {comment['id']} by {author}: it carries "
                    f"the svai marker but this token writes as {me}",
                    file=sys.stderr,
                )
        if mine is not None:
            self._call("PATCH", f"/repos/{self.repo}/issues/comments/{mine}", {"body": body})
            return "updated", mine
        created, _ = self._call("POST", f"/repos/{self.repo}/issues/{pr}/comments", {"body": body})
        return "created", int(created["id"])


def _next_page(link: str) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (GitHub's pagination), if any."""
    for part in link.split(","):
        url, _, params = part.partition(";")
        if 'rel="next"' in params:
            return url.strip().removeprefix("<").removesuffix(">")
    return None


def _pr_number(given: int | None) -> int | None:
    if given is not None:
        return given
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event and Path(event).is_file():
        data = json.loads(Path(event).read_text(encoding="utf-8"))
        number = (data.get("pull_request") or {}).get("number") or data.get("number")
        return int(number) if number else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Render the comment and post, update or write it; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", action="append", help="svai.yaml to report (repeatable)")
    parser.add_argument("--base", required=True, help="git revision of the base, e.g. origin/main")
    parser.add_argument("--head", default="HEAD", help="git revision of the head (default HEAD)")
    parser.add_argument("--pr", type=int, help="pull request number (default: from the event)")
    parser.add_argument("--repo", default=os.environ.get("GITHUB_REPOSITORY"))
    parser.add_argument(
        "--api-url", default=os.environ.get("GITHUB_API_URL", "https://api.github.com")
    )
    parser.add_argument("--svai", help="command that runs svai (default: svai on PATH)")
    parser.add_argument(
        "--bot-login",
        default=os.environ.get("SVAI_BOT_LOGIN") or BOT_LOGIN,
        help="login of an app installation token's comments (default: github-actions[bot])",
    )
    parser.add_argument("--output", type=Path, help="also write the body to this file")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=os.environ.get("SVAI_COMMENT_DRY_RUN") == "1",
        help="write the body (to --output or stdout) and post nothing",
    )
    args = parser.parse_args(argv)
    cwd = Path.cwd()
    body, ok = render_body(
        args.spec or ["svai.yaml"], args.base, args.head, _svai_command(args.svai), cwd
    )
    if args.output:
        args.output.write_text(body, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(body + "\n")
    if args.dry_run:
        if not args.output:
            sys.stdout.write(body)
        return 0 if ok else 1
    token = os.environ.get("GITHUB_TOKEN")
    pr = _pr_number(args.pr)
    if not token or not args.repo or pr is None:
        print(
            "svai-pr-comment: need GITHUB_TOKEN, --repo/GITHUB_REPOSITORY and --pr (or a "
            "pull_request event); use --dry-run to only render",
            file=sys.stderr,
        )
        return 2
    try:
        github = GitHub(args.api_url, args.repo, token)
        action, comment_id = github.upsert(pr, body, args.bot_login)
    except (ApiError, urllib.error.URLError, OSError, ValueError) as exc:
        print(f"svai-pr-comment: GitHub API call failed: {exc}", file=sys.stderr)
        return 2
    print(f"svai-pr-comment: {action} comment {comment_id} on {args.repo}#{pr}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
