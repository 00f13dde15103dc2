"""What the SDK client scripts share: running the scenarios named on the
command line, one JSON line each, and how a raised exception is reported."""

import json
import traceback


def error_summary(e, api_error):
    """An exception as the test asserts it: its class, and for the SDK's
    API errors the HTTP status, the parsed body and `retry-after`; other
    errors (the SDK failing to read what strait sent) keep their message."""
    if not isinstance(e, api_error):
        return {"class": type(e).__name__, "message": str(e),
                "trace": traceback.format_exc().splitlines()[-4:]}
    out = {"class": type(e).__name__, "body": e.body}
    response = getattr(e, "response", None)
    if response is not None:
        out["status"] = response.status_code
        out["retry_after"] = response.headers.get("retry-after")
    else:
        out["message"] = e.message
    return out


def run(client, scenarios, names, summarize_error):
    """Run each named scenario (a function of the client and the dict it
    fills) and print its summary; a raised exception lands in `error`
    next to what was filled before it."""
    for name in names:
        out = {}
        try:
            scenarios[name](client, out)
        except Exception as e:  # noqa: BLE001 - reported, asserted by the test
            out["error"] = summarize_error(e)
        print(json.dumps({"scenario": name, **out}, sort_keys=True), flush=True)
