-- ai-prompt-decorator (APISIX's name, priority and schema): adds fixed
-- messages before (`prepend`) and after (`append`) the messages of an
-- OpenAI chat or Anthropic messages request. For Anthropic, system
-- messages go to the top-level `system` field, where that API wants them.

local core = require("apisix.core")
local protocols = require("apisix.plugins.ai-protocols")

local prompts = protocols.messages_schema(0)

local schema = {
    type = "object",
    properties = {
        max_req_body_size = protocols.max_req_body_size_schema,
        prepend = prompts,
        append = prompts,
    },
    anyOf = {
        { required = { "prepend" } },
        { required = { "append" } },
    },
}

local _M = {
    version = 0.1,
    priority = 1070,
    name = "ai-prompt-decorator",
    schema = schema,
}

function _M.check_schema(conf)
    return core.schema.check(schema, conf)
end

function _M.rewrite(conf, ctx)
    local body, err = core.request.get_json_request_body_table(conf.max_req_body_size)
    if not body then
        return 400, err
    end
    protocols.prepend_messages(body, ctx, conf.prepend)
    protocols.append_messages(body, ctx, conf.append)
    ngx.req.set_body_data(core.json.encode(body))
end

return _M
