-- POST (or PUT with METHOD=PUT) to PATH_PREFIX .. random id .. PATH_SUFFIX, optionally with a token.
local min_id = tonumber(os.getenv("ID_MIN") or "1")
local max_id = tonumber(os.getenv("ID_MAX") or "1000")
local token = os.getenv("TOKEN")
local method = os.getenv("METHOD") or "POST"
local prefix = os.getenv("PATH_PREFIX") or "/api/v1/videos/"
local suffix = os.getenv("PATH_SUFFIX") or "/views"

request = function()
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format(method, prefix .. math.random(min_id, max_id) .. suffix, headers)
end
