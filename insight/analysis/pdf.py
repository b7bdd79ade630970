"""A PDF from a print-ready HTML page, drawn by WeasyPrint (imported only when a PDF is asked for)."""
from __future__ import annotations

from pathlib import Path

from insight.errors import ConfigError


def html_to_pdf(page: str, path: Path) -> Path:
    """Write the self-contained HTML ``page`` (inline CSS and SVG) as a PDF at ``path``; nothing is fetched
    from a network or the disk, whatever the page names."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except ImportError as exc:
        msg = ("PDFs need WeasyPrint and its Pango libraries: install the project with its dependencies "
               "(scripts/setup.sh installs the Debian packages), or open the HTML report and print it")
        raise ConfigError(msg) from exc
    fetcher = URLFetcher(allowed_protocols=("data",))
    HTML(string=page, url_fetcher=fetcher, media_type="print").write_pdf(path)
    return Path(path)
