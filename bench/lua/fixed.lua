-- GET one fixed path (PATH), optionally with a token.
local path = os.getenv("PATH_FIXED") or "/"
local token = os.getenv("TOKEN")

request = function()
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", path, headers)
end
