"""The CLI's user-facing messages in English and Japanese (``--lang ja|en``, else the locale).

A message is written in English at the place it is raised, with ``{named}`` fields, and looked
up here by that English text — as gettext does, without compiled catalogues. A message with no
Japanese entry is printed in English; help texts and Click's own parsing messages stay English.
"""

from __future__ import annotations

import os

__all__ = ["JAPANESE", "LANGUAGES", "language", "set_language", "tr"]

LANGUAGES = ("en", "ja")

JAPANESE: dict[str, str] = {
    "error:": "エラー:",
    "aborted": "中断しました",
    "--data {data} does not exist (only `smame mdms ingest` creates a store)":
        "--data {data}: ディレクトリがありません（ストアを作るのは `smame mdms ingest` だけです）",
    "--data {data} is not a directory": "--data {data} はディレクトリではありません",
    "--data {data}: not an MDMS store (no {file}); only `smame mdms ingest` creates one":
        "--data {data}: MDMS のストアではありません（{file} がありません）。"
        "ストアを作るのは `smame mdms ingest` だけです",
    "--out {out} is a file, not a directory":
        "--out {out} はファイルです（ディレクトリを指定してください）",
    "--out {out}: cannot write: {reason}": "--out {out}: 書き込めません: {reason}",
    "--days must be > 0, got {days}": "--days は 1 以上にしてください（指定値 {days}）",
    "{path}: no such file or directory": "{path}: ファイルまたはディレクトリがありません",
    "{wrote} {rows:,} readings of {meters:,} meters × {days} day(s) in {shards} shard(s) to "
    "{out}  ({rate:.1f} M meter-minutes/s)":
        "{wrote}: 計量値 {rows:,} 件（{meters:,} 台 × {days} 日、{shards} シャード）を {out} へ"
        "（毎秒 {rate:.1f} M メーター分）",
    "wrote": "書き込み",
    "simulated": "シミュレーション",
    "ingested {received:,} rows, {stored:,} stored in {data}":
        "{received:,} 行を取り込み、{stored:,} 行を {data} に保存しました",
    "command {kind} {status}: {ok} of {total} meter(s) succeeded, correlation id {cid}":
        "コマンド {kind} {status}: {total} 台中 {ok} 台成功、相関 ID {cid}",
    "{option} {text!r} is not a date (YYYY-MM-DD)":
        "{option} {text!r} は日付ではありません（YYYY-MM-DD）",
    "{option} {text!r} is not an ISO 8601 time":
        "{option} {text!r} は ISO 8601 の時刻ではありません",
    "{option} {text!r} needs a UTC offset, e.g. +09:00":
        "{option} {text!r} には UTC との時差が必要です（例: +09:00）",
    "give exactly one of --keys FILE or --demo-keys":
        "--keys FILE と --demo-keys のどちらか一方を指定してください",
    "creating the head-end key store in {directory}":
        "ヘッドエンドの鍵ストアを {directory} に作成します",
    "{reason}; choose another port: --port N, or make demo PORT=N (0: any free port)":
        "{reason}。別のポートを指定してください: --port N、または make demo PORT=N"
        "（0 で空きポート）",
}

_chosen: str | None = None


def _from_locale() -> str:
    """POSIX precedence: LC_ALL, then LC_MESSAGES, then LANG; ``ja…`` means Japanese."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def set_language(lang: str | None) -> None:
    """Choose the language (``None``: follow the locale)."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    _chosen = lang


def language() -> str:
    return _chosen or _from_locale()


def tr(message: str, **fields: object) -> str:
    """``message`` in the chosen language, with ``fields`` filled in."""
    template = JAPANESE.get(message, message) if language() == "ja" else message
    return template.format(**fields) if fields else template
