# expect: too-slow
# One request after another: correct results, but the time is the sum, not the slowest.
async def fetch_all(client, urls: list[str]) -> list[str]:
    bodies = []
    for url in urls:
        bodies.append(await fetch_text(client, url))
    return bodies
