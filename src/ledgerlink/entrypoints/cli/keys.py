"""`ledgerlink keys ...`: rotate the master key and the signing key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ledgerlink.adapters.crypto.envelope import EnvelopeCrypto, MasterKeyFile, MasterKeyFileError
from ledgerlink.adapters.crypto.keystore import SqlKeyStore
from ledgerlink.adapters.crypto.rotation import rotate_master_key
from ledgerlink.adapters.crypto.signing import SigningKeys
from ledgerlink.config import Settings
from ledgerlink.entrypoints.cli._console import console

app = typer.Typer(no_args_is_help=True)

DataDirOpt = Annotated[Path, typer.Option(help="where the database and key files live")]


@app.command("rotate")
def rotate(
    data_dir: DataDirOpt = Path(".ledgerlink"),
    keystore_url: Annotated[str | None, typer.Option(help="default: SQLite data_dir/keys.db")] = None,
    retire_old: Annotated[bool, typer.Option(help="remove old master keys once nothing uses them")] = False,
) -> None:
    """Re-wrap every person's data key under a new master key, while the platform runs."""
    settings = Settings(data_dir=data_dir, keystore_url=keystore_url)
    if not settings.resolved_master_key_file.exists():
        console.print(f"[red]error[/red] (no_master_key): {settings.resolved_master_key_file} does not exist")
        raise typer.Exit(2)

    async def main() -> None:
        try:
            master = MasterKeyFile(settings.resolved_master_key_file)
        except MasterKeyFileError as exc:
            console.print(f"[red]error[/red] (bad_master_key): {exc}")
            raise typer.Exit(2) from None
        keystore = SqlKeyStore(settings.resolved_keystore_url)
        await keystore.open()
        try:
            with console.status("Re-wrapping data keys..."):
                report = await rotate_master_key(
                    master, EnvelopeCrypto(master), keystore, retire_old=retire_old
                )
        finally:
            await keystore.close()
        console.print(
            f"new master key [bold]{report.new_key_id}[/bold]; {report.rewrapped} data key(s) re-wrapped"
        )
        if report.retired:
            console.print(f"retired: {', '.join(report.retired)}")
        elif not retire_old:
            console.print("old master keys kept (run again with --retire-old to remove them)")

    asyncio.run(main())


@app.command("rotate-signing")
def rotate_signing(data_dir: DataDirOpt = Path(".ledgerlink")) -> None:
    """Start signing with a new Ed25519 key; old public keys stay in the JWKS for old receipts."""
    keys = SigningKeys(data_dir / "signing.key")
    console.print(f"new signing key [bold]{keys.rotate()}[/bold]")
