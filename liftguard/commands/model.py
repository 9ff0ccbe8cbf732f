"""`liftguard model install|rollback|list|sign`: anomaly-model bundles on the box.

``install`` and ``rollback`` change ``<data_dir>/models/default``; the running daemon picks
the change up between sessions. ``sign`` is for the workstation that trains bundles: it adds
the HMAC-SHA256 signature that boxes with a ``bundle_key`` require.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_agent.bundles.errors import ModelStoreError
from edge_agent.bundles.model_store import (
    BoxSensors,
    describe,
    install_bundle,
    rollback,
    sign_bundle,
)
from liftguard.config import Config
from liftguard.errors import EXIT_OK, EXIT_RUNTIME, UsageError
from liftguard.secrets import load_secrets
from sync.lifts import LIFT_TYPES

MODELS_SUBDIR = "models"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="install, roll back, list or sign anomaly-model bundles")
    msub = p.add_subparsers(dest="model_command", metavar="ACTION")
    msub.required = True
    inst = msub.add_parser("install", help="verify a bundle (directory or .tar.gz) and make "
                                           "it the default; the daemon switches between sessions")
    inst.add_argument("bundle", type=Path)
    inst.add_argument("--allow-missing-lifts", action="store_true",
                      help="install a bundle whose lift types do not cover every lift this box "
                           "records (squat, bench press, deadlift)")
    inst.set_defaults(func=run_install)
    rb = msub.add_parser("rollback", help="go back to the previously installed bundle")
    rb.set_defaults(func=run_rollback)
    ls = msub.add_parser("list", help="show the default and previous bundles")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)
    sg = msub.add_parser("sign", help="(workstation) add the HMAC-SHA256 signature to a "
                                      "bundle directory's manifest")
    sg.add_argument("bundle", type=Path)
    sg.add_argument("--key-file", type=Path, default=None,
                    help="file holding the key (default: the bundle_key secret, e.g. env "
                         "LIFTGUARD_BUNDLE_KEY)")
    sg.set_defaults(func=run_sign)


def models_dir(cfg: Config) -> Path:
    configured = cfg.get("daemon.model_bundle")
    if configured:
        raise UsageError(f"[daemon] model_bundle is set to {configured!r}; 'liftguard model' "
                         f"manages {cfg.data_dir / MODELS_SUBDIR / 'default'}: remove that key "
                         f"to use it")
    return cfg.data_dir / MODELS_SUBDIR


def bundle_key(cfg: Config) -> bytes | None:
    secrets_file = cfg.get("device.secrets_file")
    key = load_secrets(secrets_file if secrets_file and Path(secrets_file).is_file()
                       else None).get("bundle_key")
    return key.encode() if key else None


def run_install(args: argparse.Namespace) -> int:
    key = bundle_key(args.cfg)
    try:
        done = install_bundle(args.bundle, models_dir(args.cfg), BoxSensors.from_config(args.cfg),
                              signing_key=key,
                              lifts=None if args.allow_missing_lifts else LIFT_TYPES)
    except ModelStoreError as exc:
        print(f"liftguard: model NOT installed; the current one stays: {exc}")
        return EXIT_RUNTIME
    checked = "signature verified" if key else "checksums only: no bundle_key configured"
    if done.unchanged:
        print(f"bundle {done.sha256[:12]} is already the default; nothing changed")
        return EXIT_OK
    channels = ", ".join(done.manifest["channels"])
    print(f"installed bundle {done.sha256[:12]} ({channels} at "
          f"{done.manifest['sample_rate_hz']:g} Hz, {checked}); the daemon switches to it "
          f"before its next session"
          + (f"; previous {done.previous.name[:12]} kept for 'liftguard model rollback'"
             if done.previous else ""))
    return EXIT_OK


def run_rollback(args: argparse.Namespace) -> int:
    try:
        now = rollback(models_dir(args.cfg))
    except ModelStoreError as exc:
        print(f"liftguard: {exc}")
        return EXIT_RUNTIME
    print(f"default bundle is now {now.name[:12]}; the daemon switches before its next session")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    from edge_agent.bundles.choice import choose_bundle

    installed = describe(models_dir(args.cfg))
    chosen, why = choose_bundle(args.cfg)
    if args.json:
        print(json.dumps(dict(installed, decides=str(chosen), reason=why), indent=2))
        return EXIT_OK
    for link, b in installed.items():
        if b is None:
            print(f"{link}: none installed")
            continue
        print(f"{link}: {b['sha256'][:12]} ({', '.join(b['lift_types'] or ['no lift'])}; "
              f"{len(b['channels'] or [])} channels at {b['sample_rate_hz']} Hz; "
              f"{'signed' if b['signed'] else 'unsigned'}) {b['path']}")
    print(f"deciding: {chosen}" + (" (the shipped bundle: none installed)" if why else ""))
    return EXIT_OK


def run_sign(args: argparse.Namespace) -> int:
    if args.key_file is not None:
        try:
            key = args.key_file.read_bytes().strip()
        except OSError as exc:
            raise UsageError(f"--key-file {args.key_file}: {exc.strerror}") from None
    else:
        key = bundle_key(args.cfg)
    if not key:
        raise UsageError("no signing key: set the bundle_key secret (env LIFTGUARD_BUNDLE_KEY) "
                         "or pass --key-file")
    try:
        sign_bundle(args.bundle, key)
    except ModelStoreError as exc:
        print(f"liftguard: {exc}")
        return EXIT_RUNTIME
    print(f"signed {args.bundle / 'manifest.json'} (hmac-sha256)")
    return EXIT_OK
