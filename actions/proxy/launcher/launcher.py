"""Brisk python launcher, started by the action proxy once per container as

    python3 launcher.py <entry> <actionDir> <text|archive>

It imports <actionDir>/__main__.py as module "main__", reports {"ok": true}
or {"error": ...} on fd 3, then serves one activation per stdin line
({"value": ..., "env": {...}}) and answers each with exactly one line on fd 3:

    {"result": <dict or list>}             the activation's result
    {"error": "<message>", "status": 502}  a developer error

An uncaught exception in the action is an application error: its traceback
goes to stderr and the result is {"error": str(exception)}. stdout and stderr
are flushed before every reply so the user's output precedes the sentinel.
"""

import glob
import importlib.util
import json
import os
import site
import sys
import traceback

REPLY_FD = 3


def flush_user_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed or broken stream must not stop us
            pass


class Replier:
    def __init__(self, fd):
        self.out = os.fdopen(fd, "wb")

    def line(self, text):
        flush_user_output()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            data = text.encode("utf-8", "replace")
        self.out.write(data + b"\n")
        self.out.flush()

    def send(self, obj):
        self.line(json.dumps(obj, ensure_ascii=False))


class EntrypointError(Exception):
    """The module loaded but has no callable entry point."""


def describe(ex):
    if isinstance(ex, EntrypointError):
        return str(ex)
    if isinstance(ex, SystemExit):
        return "the action exited during initialization (exit code %r)" % (ex.code,)
    return "".join(traceback.format_exception_only(type(ex), ex)).strip()


def print_user_traceback(ex, action_dir):
    """Prints ex to stderr without the launcher's and importlib's frames."""
    tb = ex.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(action_dir):
        tb = tb.tb_next
    traceback.print_exception(type(ex), ex, tb)


def load(entry, action_dir):
    for packages in glob.glob(os.path.join(action_dir, "virtualenv", "lib", "python*", "site-packages")):
        site.addsitedir(packages)
    sys.path.insert(0, action_dir)
    os.chdir(action_dir)
    source = os.path.join(action_dir, "__main__.py")
    sys.argv = [source]
    spec = importlib.util.spec_from_file_location("main__", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["main__"] = module
    spec.loader.exec_module(module)
    fn = getattr(module, entry, None)
    if not callable(fn):
        raise EntrypointError("Action entrypoint '%s' is not a function." % entry)
    return fn


class Env:
    """Applies each activation's __OW_* variables, restoring the ones a
    previous activation set but the current one does not."""

    def __init__(self):
        self.base = dict(os.environ)
        self.keys = []

    def apply(self, env):
        for k in self.keys:
            if k in env:
                continue
            if k in self.base:
                os.environ[k] = self.base[k]
            else:
                os.environ.pop(k, None)
        for k, v in env.items():
            os.environ[k] = str(v)
        self.keys = list(env)


def run_one(fn, env, line, reply, action_dir):
    try:
        msg = json.loads(line)
    except ValueError as ex:
        reply.send({"error": "Internal system error: invalid activation message: %s" % ex, "status": 502})
        return
    env.apply(msg.get("env") or {})
    args = msg.get("value")
    if args is None:
        args = {}
    try:
        result = fn(args)
        if hasattr(result, "__await__"):
            import asyncio  # imported on first use: it costs ~100 ms of every cold start

            result = asyncio.run(result) if asyncio.iscoroutine(result) else asyncio.run(_await(result))
    except Exception as ex:
        print_user_traceback(ex, action_dir)
        result = {"error": str(ex)}
    if result is None:
        result = {}
    if not isinstance(result, (dict, list)):
        print("Result must be of type dict but has type %r" % type(result).__name__, file=sys.stderr)
        reply.send({"error": "The action did not return a dictionary.", "status": 502})
        return
    try:
        text = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as ex:
        reply.send({"error": "The action result cannot be serialized to JSON: %s" % ex, "status": 502})
        return
    reply.line('{"result":' + text + "}")


async def _await(awaitable):
    return await awaitable


def main():
    if len(sys.argv) < 3:
        # Prestarted: the first stdin line says what to load.
        init = json.loads(sys.stdin.buffer.readline())
        entry, action_dir = init["entry"], init["dir"]
        os.environ.update(init.get("env") or {})
    else:
        entry, action_dir = sys.argv[1], sys.argv[2]
    reply = Replier(REPLY_FD)
    try:
        fn = load(entry, action_dir)
    except BaseException as ex:  # includes SystemExit from top-level code
        if isinstance(ex, EntrypointError):
            print("Error during initialization: %s" % ex, file=sys.stderr)
        else:
            print_user_traceback(ex, action_dir)
        reply.send({"error": describe(ex)})
        return 1
    reply.send({"ok": True})
    env = Env()
    stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return 0
        run_one(fn, env, line, reply, action_dir)


if __name__ == "__main__":
    sys.exit(main())
