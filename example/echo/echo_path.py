"""Echo the request itself: GET /greet/alice?loud=1 says hello to alice."""


def run(request, **kwargs):
    parts = [p for p in request.path.split("/") if p]
    name = parts[-1] if parts else "world"
    greeting = f"Hello, {name}!"
    if request.args.get("loud"):
        greeting = greeting.upper()
    return {"greeting": greeting, "path": request.path, "method": request.method}
