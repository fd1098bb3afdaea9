-- @module wrk script of the Gatehouse benchmark harness (bench/lib/wrk.ts): one request shape,
-- optionally with a token drawn at random from a file for each request.
--
-- wrk -s request.lua URL -- METHOD BODY TOKENS_FILE [HEADER ...]
--   METHOD       GET or POST
--   BODY         request body, or "-" for none ("{{token}}" is replaced by a token)
--   TOKENS_FILE  one token per line, or "-" for none
--   HEADER       "Name: value" ("{{token}}" is replaced by the same token)
--
-- Requests are formatted once in init(): per request wrk only picks one, so the load
-- generator spends its CPU on sockets, not on Lua.

local requests = {}

local function substitute(s, token)
  if token == nil then return s end
  return (s:gsub("{{token}}", function() return token end))
end

function init(args)
  local method = args[1]
  local body = args[2]
  if body == "-" then body = nil end
  local tokensFile = args[3]
  local headerLines = {}
  for i = 4, #args do headerLines[#headerLines + 1] = args[i] end

  local tokens = { false }
  if tokensFile ~= nil and tokensFile ~= "-" then
    tokens = {}
    for line in io.lines(tokensFile) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
    if #tokens == 0 then error("no tokens in " .. tokensFile) end
  end

  for _, token in ipairs(tokens) do
    local t = token or nil
    local headers = {}
    for _, line in ipairs(headerLines) do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      headers[name] = substitute(value, t)
    end
    if body ~= nil and headers["Content-Type"] == nil then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    end
    requests[#requests + 1] = wrk.format(method, nil, headers, body and substitute(body, t) or nil)
  end
end

function request()
  if #requests == 1 then return requests[1] end
  return requests[math.random(#requests)]
end
