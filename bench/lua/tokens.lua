-- PUT a like on a random video, as one of several users (TOKENS: comma-separated).
local min_id = tonumber(os.getenv("ID_MIN") or "1")
local max_id = tonumber(os.getenv("ID_MAX") or "1000")
local tokens = {}
for token in string.gmatch(os.getenv("TOKENS") or "", "[^,]+") do tokens[#tokens + 1] = token end

request = function()
  local token = tokens[math.random(1, #tokens)]
  return wrk.format("PUT", "/api/v1/videos/" .. math.random(min_id, max_id) .. "/like",
    {["Authorization"] = "Bearer " .. token})
end
