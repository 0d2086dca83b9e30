# expect: too-slow
# Right outcomes, one request at a time.
async def fetch_report(client, urls: list[str]) -> dict[str, str | Exception]:
    report = {}
    for url in urls:
        try:
            report[url] = await fetch_text(client, url)
        except Exception as exc:
            report[url] = exc
    return report
