# Read a text file under example/ and shout it: an implicit adaptor (one expression).
# The server runs from the repository root, so root_dir="example" is ./example; a path that
# leaves it ("../pyproject.toml", "/etc/passwd", a symlink out) is refused.
pipe().kwarg("path").open(root_dir="example").bytes().f(lambda text: text.decode().upper())
