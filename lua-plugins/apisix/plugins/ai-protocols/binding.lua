-- What an AI plugin does with a request it cannot read as an AI request
-- (`fail_mode`, APISIX's `apisix.plugins.ai-protocols.binding`):
-- "skip" passes it on (info log), "warn" passes it on with a warning,
-- "error" rejects it.

local core = require("apisix.core")

local _M = {}

function _M.schema_property(default)
    return {
        type = "string",
        enum = { "skip", "warn", "error" },
        default = default,
        description = "what to do with a request that is not an AI request: "
            .. "skip (pass it on), warn (pass it on and log a warning), error (reject it)",
    }
end

-- Returns true, code, body when the request is to be rejected.
function _M.on_unsupported(mode, plugin_name, reason, code, body)
    if mode == "error" then
        return true, code, body
    end
    local msg = plugin_name .. " skipped: " .. tostring(reason):gsub("%c", " "):sub(1, 256)
    if mode == "warn" then
        core.log.warn(msg)
    else
        core.log.info(msg)
    end
    return false
end

return _M
