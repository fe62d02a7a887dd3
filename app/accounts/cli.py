"""``pcf orgs …`` and ``pcf clients …``: manage organisations and API clients from a shell.

Every change is audited with the actor ``cli``. Secrets are printed once and never again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

CLI_ACTOR = "cli"


@contextmanager
def _session() -> Iterator[Session]:
    from app.core.database import Database
    from app.core.migrate import upgrade_to_head
    from app.core.preflight import check_database
    from app.core.settings import get_settings
    from app.core.tenancy import unscoped

    settings = get_settings()
    check_database(settings)
    upgrade_to_head(settings.database_url)
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            yield unscoped(s)
    finally:
        db.dispose()


def _error(message: str) -> int:
    print(f"pcf: error: {message}", file=sys.stderr)
    return 1


def _app_error_message(exc: Any) -> str:
    details = "; ".join(f"{e.pointer or '/'}: {e.message}" for e in exc.errors)
    return f"{exc.detail}{' (' + details + ')' if details else ''}"


def _families(value: str) -> list[str]:
    return [f.strip() for f in value.split(",") if f.strip()]


# ---------------------------------------------------------------------------- handlers


def cmd_orgs_create(args: argparse.Namespace) -> int:
    from app.accounts import service
    from app.core.errors import AppError

    try:
        with _session() as s:
            org = service.create_organisation(
                s, None, name=args.name, kind=args.kind, families=args.families, actor=CLI_ACTOR
            )
            out = {"id": str(org.id), "name": org.name, "kind": org.kind, "families": org.families}
    except AppError as exc:
        return _error(_app_error_message(exc))
    if args.json:
        print(json.dumps(out))
    else:
        fams = f" families={','.join(out['families'])}" if out["families"] else ""
        print(f"organisation {out['name']} ({out['kind']}) id={out['id']}{fams}")
    return 0


def cmd_orgs_list(args: argparse.Namespace) -> int:
    from app.accounts import service

    with _session() as s:
        rows = [
            {"id": str(o.id), "name": o.name, "kind": o.kind, "families": o.families}
            for o in service.list_organisations(s)
        ]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['id']}  {r['kind']:<12} {r['name']}  {','.join(r['families'])}")
    return 0


def _print_credentials(client_id: str, secret: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"client_id": client_id, "client_secret": secret}))
    else:
        print(f"client_id:     {client_id}")
        print(f"client_secret: {secret}")
        print("The secret is shown only this once; `pcf clients rotate` issues a new one.")


def cmd_clients_create(args: argparse.Namespace) -> int:
    from app.accounts import service
    from app.core.errors import AppError

    try:
        with _session() as s:
            org = service.find_organisation(s, args.org)
            if org is None:
                return _error(f"no organisation named {args.org!r} (pcf orgs list)")
            client, secret = service.create_client(
                s, None, org=org, role=args.role, description=args.description, actor=CLI_ACTOR
            )
            client_id = client.client_id
    except AppError as exc:
        return _error(_app_error_message(exc))
    _print_credentials(client_id, secret, args.json)
    return 0


def cmd_clients_rotate(args: argparse.Namespace) -> int:
    from app.accounts import service
    from app.core.errors import AppError

    try:
        with _session() as s:
            client = service.get_client(s, args.client_id)
            secret = service.rotate_client(s, None, client, actor=CLI_ACTOR)
    except AppError as exc:
        return _error(_app_error_message(exc))
    _print_credentials(args.client_id, secret, args.json)
    return 0


def cmd_clients_revoke(args: argparse.Namespace) -> int:
    from app.accounts import service
    from app.core.errors import AppError

    try:
        with _session() as s:
            client = service.get_client(s, args.client_id)
            service.revoke_client(s, None, client, actor=CLI_ACTOR)
    except AppError as exc:
        return _error(_app_error_message(exc))
    print(f"client {args.client_id} revoked; its secret and tokens no longer work")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    from app.accounts import service

    with _session() as s:
        org_id = None
        if args.org:
            org = service.find_organisation(s, args.org)
            if org is None:
                return _error(f"no organisation named {args.org!r} (pcf orgs list)")
            org_id = org.id
        names = {o.id: o.name for o in service.list_organisations(s)}
        rows = [
            {
                "client_id": c.client_id,
                "org": names.get(c.org_id, str(c.org_id)),
                "role": c.role,
                "description": c.description,
                "revoked": c.revoked_at is not None,
            }
            for c in service.list_clients(s, org_id)
        ]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            state = "revoked" if r["revoked"] else "active"
            print(f"{r['client_id']}  {r['role']:<12} {state:<8} {r['org']}  {r['description']}")
    return 0


# ---------------------------------------------------------------------------- parser


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``orgs`` and ``clients`` to the ``pcf`` command."""
    from app.accounts.families import PRODUCT_FAMILIES
    from app.accounts.principal import OrgKind, Role

    kinds = [k.value for k in OrgKind]
    roles = [r.value for r in Role]

    o = sub.add_parser("orgs", help="organisations", description="Organisations.")
    osub = o.add_subparsers(dest="orgs_command", metavar="ACTION", required=True)
    oc = osub.add_parser(
        "create",
        help="create an organisation",
        description="Create an organisation. Associations own the rules of the product "
        f"families given with --families (any of: {', '.join(PRODUCT_FAMILIES)}); the "
        "operator organisation holds the admin clients.",
    )
    oc.add_argument("name", metavar="NAME", help="unique name")
    oc.add_argument("--kind", required=True, choices=kinds, help="kind of organisation")
    oc.add_argument(
        "--families",
        type=_families,
        default=[],
        help="comma-separated product families (associations only), e.g. beer,refrigerator",
    )
    oc.add_argument("--json", action="store_true", help="print the organisation as JSON")
    oc.set_defaults(func=cmd_orgs_create)
    ol = osub.add_parser("list", help="list organisations", description="List organisations.")
    ol.add_argument("--json", action="store_true", help="print JSON")
    ol.set_defaults(func=cmd_orgs_list)

    c = sub.add_parser("clients", help="API clients", description="API clients (OAuth2).")
    csub = c.add_subparsers(dest="clients_command", metavar="ACTION", required=True)
    cc = csub.add_parser(
        "create",
        help="create an API client and print its id and secret (once)",
        description="Create an API client of an organisation with a role and print its "
        "client id and secret. The secret is stored only as an argon2 hash: this is the only "
        "time it is shown.",
    )
    cc.add_argument("--org", required=True, metavar="NAME", help="organisation name")
    cc.add_argument("--role", required=True, choices=roles, help="the client's role")
    cc.add_argument("--description", default="", help="free text, e.g. who uses it")
    cc.add_argument(
        "--json", action="store_true", help='print {"client_id": …, "client_secret": …}'
    )
    cc.set_defaults(func=cmd_clients_create)
    cr = csub.add_parser(
        "rotate",
        help="issue a new secret (the old one and its tokens stop working)",
        description="Issue a new secret for a client and print it once. The old secret and "
        "every token issued with it stop working at once.",
    )
    cr.add_argument("client_id", metavar="CLIENT_ID")
    cr.add_argument("--json", action="store_true", help="print JSON")
    cr.set_defaults(func=cmd_clients_rotate)
    cv = csub.add_parser(
        "revoke",
        help="revoke a client for good",
        description="Revoke a client: its secret and every token stop working at once.",
    )
    cv.add_argument("client_id", metavar="CLIENT_ID")
    cv.set_defaults(func=cmd_clients_revoke)
    cl = csub.add_parser("list", help="list API clients", description="List API clients.")
    cl.add_argument("--org", metavar="NAME", help="only this organisation's clients")
    cl.add_argument("--json", action="store_true", help="print JSON")
    cl.set_defaults(func=cmd_clients_list)
