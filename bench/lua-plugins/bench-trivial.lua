-- The trivial Lua plugin of `make bench` scenario 2: one `access` call that
-- reads a request header, so the measured cost is the Lua call itself.
local core = require("apisix.core")

local _M = {
    version = 0.1,
    priority = 100,
    name = "bench-trivial",
    schema = { type = "object" },
}

function _M.access(conf, ctx)
    local agent = core.request.header(ctx, "User-Agent")
    if agent == "blocked" then
        return 403
    end
end

return _M
