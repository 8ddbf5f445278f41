-- GET /api/v1/videos/{id} on random ids in [ID_MIN, ID_MAX] (set through the environment).
local min_id = tonumber(os.getenv("ID_MIN") or "1")
local max_id = tonumber(os.getenv("ID_MAX") or "1000")
local token = os.getenv("TOKEN")
local prefix = os.getenv("PATH_PREFIX") or "/api/v1/videos/"

request = function()
  local id = math.random(min_id, max_id)
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", prefix .. id, headers)
end
