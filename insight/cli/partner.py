"""Command-line partner administration: users and roles, API tokens, uploads, asset layers, exports.

Wired into ``insight`` by :func:`add_commands`. Whoever runs these commands has the
database's credentials, so user and layer administration acts as the system
(recorded as such in the audit log); uploads act as the user named by ``--as``.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from insight.cli.engines import open_engine
from insight.config import Settings
from insight.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from insight.partner.uploads import UploadCheck

PASSWORD_ENV = "INSIGHT_NEW_PASSWORD"


def _new_password(email: str) -> str:
    from insight.partner.auth import password_problems

    supplied = os.environ.get(PASSWORD_ENV)
    if supplied is not None:
        password = supplied
    else:
        if not sys.stdin.isatty():
            raise ConfigError(f"no terminal to ask for the password: set {PASSWORD_ENV} for scripts")
        password = getpass.getpass(f"password for {email}: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ; nothing was changed")
    problems = password_problems(password, email=email)
    if problems:
        raise ConfigError("password not accepted: " + "; ".join(problems))
    return password


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    """``insight user add|role|password|disable|enable|list``: manage accounts (as the system)."""
    from insight.partner import auth

    engine = open_engine(settings)
    if args.user_action == "add":
        email = auth.normalise_email(args.email)
        user = auth.create_user(engine, email, role=args.role, password=_new_password(email), org_slug=args.org,
                                name=args.name or "", create_org=args.create_org)
        print(f"created {user.describe()}")
    elif args.user_action == "role":
        user = auth.set_role(engine, args.email, role=args.role, org_slug=args.org)
        print(f"{user.email} is now {user.role}" + (f" of {user.org_slug}" if user.org_slug else "")
              + "; their sessions were ended")
    elif args.user_action == "password":
        email = auth.normalise_email(args.email)
        auth.set_password(engine, email, _new_password(email))
        print(f"password changed for {email}; their sessions were ended")
    elif args.user_action in ("disable", "enable"):
        user = auth.set_active(engine, args.email, active=args.user_action == "enable")
        print(f"{user.email} was {args.user_action}d" + ("; their sessions were ended and their tokens revoked"
                                                          if args.user_action == "disable" else ""))
    elif args.user_action == "invite":
        from insight.partner.onboarding import invite

        made = invite(engine, args.email, role=args.role, org_slug=args.org, name=args.name or "", actor=auth.SYSTEM)
        print(f"invited {made.email} ({made.role}" + (f" of {made.org_slug}" if made.org_slug else "")
              + f"); send them this link, shown once, valid until {made.expires:%Y-%m-%d}:")
        path = f"/partner/invite/{made.code}"
        if settings.public_url:
            print(settings.public_url.rstrip("/") + path)
        else:
            print(path)
            print(f"put your site's address in front, e.g. https://insight.example.gov.uk{path} "
                  "(set INSIGHT_PUBLIC_URL to print it whole)")
    else:
        for user in auth.list_users(engine, actor=auth.SYSTEM):
            print(f"{user.email}  {user.role}" + (f"  {user.org_slug}" if user.org_slug else ""))
    return 0


def cmd_org(args: argparse.Namespace, settings: Settings) -> int:
    """``insight org add NAME``: add an organisation (as the system; recorded in the audit log)."""
    from insight.partner import auth
    from insight.partner.onboarding import add_organisation

    added = add_organisation(open_engine(settings), args.name, slug=args.slug, actor=auth.SYSTEM)
    print(f"added organisation {added.name} ({added.slug})")
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """``insight token create|revoke|list --as EMAIL``: API tokens for scripts."""
    from insight.partner import auth

    engine = open_engine(settings)
    user = auth.user_by_email(engine, args.as_user)
    if args.token_action == "create":
        token = auth.create_token(engine, user, args.name)
        print(f"token {token.id} ({token.name}) for {user.email} — shown once, store it now:")
        print(token.token)
    elif args.token_action == "revoke":
        auth.revoke_token(engine, args.id, actor=user)
        print(f"token {args.id} revoked")
    else:
        for t in auth.list_tokens(engine, user):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            used = f"last used {t.last_used_at:%Y-%m-%d}" if t.last_used_at else "never used"
            print(f"{t.id}  {t.prefix}…  {t.name}  {state}, {used}")
    return 0


def format_check(check: UploadCheck) -> str:
    """The validation report and preview of an upload as plain text."""
    report = check.report()
    lines = [f"{report['filename']} → layer '{report['layer']}' ({report['format']}, sha256 {report['sha256'][:12]}…)",
             f"rows read {report['rows_read']}, would load {report['rows_loaded']}, "
             f"not loaded (errors) {report['rows_rejected']}"]
    lines += [f"note: {n}" for n in report["notes"]]
    if report["issues"]:
        lines.append("row  column  severity  reason")
        for i in report["issues"]:
            lines.append(f"{i['row'] or '-'}  {i['column'] or '-'}  {i['severity']}  {i['reason']}")
    counts = report["counts"]
    lines.append("preview: " + ", ".join(f"{counts[k]} {k}" for k in ("added", "changed", "unchanged", "removed",
                                                                         "kept")))
    for row in report["preview"]:
        if row["status"] != "unchanged":
            fields = f" ({', '.join(row['fields'])})" if row["fields"] else ""
            lines.append(f"  {row['status']:<8} {row['key']}  {row['name'] or ''}{fields}")
    return "\n".join(lines)


def cmd_upload(args: argparse.Namespace, settings: Settings) -> int:
    """``insight upload FILE --layer NAME --as EMAIL``: check and preview a file; ``--commit`` saves it."""
    from insight.partner import auth, uploads

    engine = open_engine(settings)
    user = auth.user_by_email(engine, args.as_user)
    check = uploads.check_upload(engine, Path(args.file), layer=args.layer, actor=user, settings=settings,
                                 on_behalf_of=args.org)
    print(format_check(check))
    if not args.commit:
        print("nothing written: run again with --commit to apply this preview")
        return 0
    version = uploads.commit_check(engine, check, actor=user, action="import" if check.format == "oruk" else "upload")
    print(f"committed as version {version.number} of '{args.layer}': {version.added} added, {version.changed} "
          f"changed, {version.removed} removed")
    return 0


def cmd_asset_layer(args: argparse.Namespace, settings: Settings) -> int:
    """``insight asset-layer NAME``: create a point layer maintained through uploads, or change its rules."""
    from insight.partner import auth, versions

    engine = open_engine(settings)
    with engine.begin() as conn:
        try:
            versions.layer_info(conn, args.name)
        except NotFoundError:
            org_id = auth.organisation_id(conn, args.org) if args.org else None
            versions.create_asset_layer(conn, args.name, title=args.title, owner_org_id=org_id,
                                        sensitivity="restricted" if args.restricted else "public",
                                        asset_kind=args.asset_kind)
            print(f"created point layer '{args.name}'")
    categories: list[str] | None | bool = False
    if args.category:
        categories = args.category
    elif args.categories_from:
        from insight.partner.oruk_feed import categories_from_taxonomy

        categories = categories_from_taxonomy(json.loads(Path(args.categories_from).read_text(encoding="utf-8")))
    elif args.any_category:
        categories = None
    info = versions.set_rules(
        engine, args.name, actor=auth.SYSTEM, partner_upload=args.partners, categories=categories,
        required_fields=args.require, key_field=args.key if args.key else False,
        owner_org=args.org if args.org else False,
    )
    cats = ", ".join(info.rules.categories) if info.rules.categories is not None else "any"
    print(f"{info.name}: open to partners {'yes' if info.ref.partner_upload else 'no'}, owner "
          f"{info.owner_slug or 'shared'}, categories {cats}")
    return 0


def cmd_oruk(args: argparse.Namespace, settings: Settings) -> int:
    """``insight oruk export LAYER``: a directory layer as an Open Referral UK feed, optionally validated."""
    from insight.partner import auth, oruk

    engine = open_engine(settings)
    user = auth.user_by_email(engine, args.as_user) if args.as_user else auth.SYSTEM
    document = oruk.export_directory(engine, args.layer, actor=user)
    if args.schemas:
        errors = oruk.validate_feed(document, Path(args.schemas))
        if errors:
            raise ConfigError("the export does not match the Open Referral UK schema:\n  " + "\n  ".join(errors[:20]))
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {document['total_items']} services to {args.out}")
    else:
        print(text)
    return 0


def cmd_stale(args: argparse.Namespace, settings: Settings) -> int:
    """``insight stale LAYER``: records not assured in the last ``--days`` days."""
    from insight.partner.versions import stale_records

    days = args.days or settings.stale_days
    records = stale_records(open_engine(settings), args.layer, days=days)
    print(f"{len(records)} record(s) of '{args.layer}' not assured in the last {days} days")
    for r in records:
        when = f"last assured {r.last_assured} ({r.days_since} days ago)" if r.last_assured else "never assured"
        print(f"  {r.key}  {r.name or ''}  {when}")
    return 0


def _add_account_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``user`` and ``org``."""
    from insight.store.models import ROLES

    user = sub.add_parser("user", help="accounts: add, change role or password, disable or enable, list")
    actions = user.add_subparsers(dest="user_action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help=f"create an account (password from a prompt or ${PASSWORD_ENV})")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--org", help="organisation slug (partners only)")
    add.add_argument("--create-org", action="store_true", help="create the organisation if it does not exist")
    add.add_argument("--name", help="the person's name")
    role = actions.add_parser("role", help="change an account's role (ends its sessions, revokes its tokens)")
    role.add_argument("email")
    role.add_argument("--role", required=True, choices=ROLES)
    role.add_argument("--org", help="organisation slug (partners only)")
    password = actions.add_parser("password", help=f"set a new password (prompt or ${PASSWORD_ENV})")
    password.add_argument("email")
    for verb, what in (("disable", "stop an account signing in (ends its sessions, revokes its tokens)"),
                       ("enable", "let a disabled account sign in again")):
        actions.add_parser(verb, help=what).add_argument("email")
    actions.add_parser("list", help="list accounts")
    invite = actions.add_parser("invite", help="invite a person: they choose their password from a link shown once")
    invite.add_argument("email")
    invite.add_argument("--role", default="partner", choices=ROLES)
    invite.add_argument("--org", help="organisation slug (partners only)")
    invite.add_argument("--name", help="the person's name")
    user.set_defaults(func=cmd_user)

    org = sub.add_parser("org", help="organisations: add one")
    org.add_argument("action", choices=["add"])
    org.add_argument("name", help="the organisation's full name")
    org.add_argument("--slug", default="", help="short name (default: made from the name)")
    org.set_defaults(func=cmd_org)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``user``, ``org``, ``token``, ``upload``, ``asset-layer``, ``oruk`` and ``stale`` to the ``insight``
    command."""
    _add_account_commands(sub)

    token = sub.add_parser("token", help="API tokens for scripts: create (shown once), revoke, list")
    token_actions = token.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    create = token_actions.add_parser("create", help="create a token")
    create.add_argument("--as", dest="as_user", required=True, metavar="EMAIL", help="the token's owner")
    create.add_argument("--name", default="script", help="what the token is for")
    revoke = token_actions.add_parser("revoke", help="revoke a token")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--as", dest="as_user", required=True, metavar="EMAIL")
    listing = token_actions.add_parser("list", help="list a user's tokens")
    listing.add_argument("--as", dest="as_user", required=True, metavar="EMAIL")
    token.set_defaults(func=cmd_token)

    upload = sub.add_parser("upload", help="check a partner file against a layer and preview it; --commit applies it")
    upload.add_argument("file", help="CSV, GeoJSON, GeoPackage, zipped shapefile, KML, or an Open Referral UK feed")
    upload.add_argument("--layer", required=True)
    upload.add_argument("--as", dest="as_user", required=True, metavar="EMAIL", help="the user uploading")
    upload.add_argument("--org", help="for officers: upload on behalf of this organisation")
    upload.add_argument("--commit", action="store_true", help="write it as a new version of the layer")
    upload.set_defaults(func=cmd_upload)

    layer = sub.add_parser("asset-layer", help="create or configure a point layer maintained through uploads")
    layer.add_argument("name")
    layer.add_argument("--title")
    layer.add_argument("--org", help="owning organisation slug (default: shared by all partners)")
    layer.add_argument("--restricted", action="store_true", help="new layer: restricted rather than public")
    layer.add_argument("--asset-kind", help="new layer: the kind of its records (money, services_people, insight, "
                                            "spaces)")
    group = layer.add_mutually_exclusive_group()
    group.add_argument("--category", action="append", help="an allowed category (repeat)")
    group.add_argument("--categories-from", metavar="TAXONOMY_JSON", help="Open Referral UK taxonomy file")
    group.add_argument("--any-category", action="store_true", help="clear the category list")
    layer.add_argument("--require", action="append", help="a column every row must fill (repeat)")
    layer.add_argument("--key", help="the column identifying a record across uploads")
    partners = layer.add_mutually_exclusive_group()
    partners.add_argument("--partners", dest="partners", action="store_true", default=None,
                          help="open to partner uploads")
    partners.add_argument("--no-partners", dest="partners", action="store_false", help="officers only")
    layer.set_defaults(func=cmd_asset_layer)

    feed = sub.add_parser("oruk", help="export a directory layer as an Open Referral UK feed")
    feed.add_argument("action", choices=["export"])
    feed.add_argument("layer")
    feed.add_argument("--out", help="file to write (default: standard output)")
    feed.add_argument("--as", dest="as_user", metavar="EMAIL", help="export as this user (checks their role)")
    feed.add_argument("--schemas", help="folder of the Open Referral UK schemas to validate against")
    feed.set_defaults(func=cmd_oruk)

    stale = sub.add_parser("stale", help="records not assured (checked as still true) recently")
    stale.add_argument("layer")
    stale.add_argument("--days", type=int, help="default INSIGHT_STALE_DAYS (365)")
    stale.set_defaults(func=cmd_stale)
