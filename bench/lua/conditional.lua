-- GET one fixed path (PATH_FIXED) with `If-None-Match: IF_NONE_MATCH` when that is set (a 304 when
-- the tag still matches), optionally with a token.
local path = os.getenv("PATH_FIXED") or "/"
local tag = os.getenv("IF_NONE_MATCH")
local token = os.getenv("TOKEN")

request = function()
  local headers = {}
  if tag and tag ~= "" then headers["If-None-Match"] = tag end
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", path, headers)
end
