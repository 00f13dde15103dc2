-- ai-prompt-template (APISIX's name, priority and schema): the client names
-- a configured template (`template_name`) and sends its variables; the
-- request body becomes the template with each `{{name}}` replaced by the
-- request's value of that name (a dotted path reaches into objects; a
-- missing value renders as nothing). Values are inserted as text.

local core = require("apisix.core")
local protocols = require("apisix.plugins.ai-protocols")

local messages = protocols.messages_schema(1)

local schema = {
    type = "object",
    properties = {
        max_req_body_size = protocols.max_req_body_size_schema,
        templates = {
            type = "array",
            minItems = 1,
            items = {
                type = "object",
                properties = {
                    name = { type = "string", minLength = 1 },
                    template = {
                        type = "object",
                        properties = {
                            model = { type = "string", minLength = 1 },
                            messages = messages,
                        },
                    },
                },
                required = { "name", "template" },
            },
        },
    },
    required = { "templates" },
}

local _M = {
    version = 0.1,
    priority = 1071,
    name = "ai-prompt-template",
    schema = schema,
}

function _M.check_schema(conf)
    return core.schema.check(schema, conf)
end

local function lookup(vars, path)
    local value = vars
    for key in path:gmatch("[^%.]+") do
        if type(value) ~= "table" then
            return nil
        end
        value = value[key]
    end
    return value
end

local function render_text(text, vars)
    return (text:gsub("{{%s*([%w_%.%-]+)%s*}}", function(path)
        local value = lookup(vars, path)
        if value == nil or value == core.json.null then
            return ""
        end
        if type(value) == "table" then
            return core.json.encode(value)
        end
        return tostring(value)
    end))
end

local function render(node, vars)
    if type(node) == "string" then
        return render_text(node, vars)
    end
    if type(node) ~= "table" then
        return node
    end
    local out = setmetatable({}, getmetatable(node))
    for k, v in pairs(node) do
        out[k] = render(v, vars)
    end
    return out
end

function _M.rewrite(conf, ctx)
    local body, err = core.request.get_json_request_body_table(conf.max_req_body_size)
    if not body then
        return 400, err
    end
    local name = body.template_name
    if type(name) ~= "string" then
        return 400, { message = "template name is missing in request." }
    end
    for _, entry in ipairs(conf.templates) do
        if entry.name == name then
            core.log.info("rendering prompt template ", name)
            ngx.req.set_body_data(core.json.encode(render(entry.template, body)))
            core.request.set_header(ctx, "Content-Type", "application/json")
            return
        end
    end
    return 400, { message = "template: " .. name .. " not configured." }
end

return _M
