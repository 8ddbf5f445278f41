-- GET /api/v1/videos/{id} on random ids in [ID_MIN, ID_MAX] (set through the environment);
-- with SEQUENTIAL=1, every id in turn from START_ID (default ID_MIN), wrapping round (the warm-up:
-- each id reaches each worker's cache; a warm-up of several runs starts each where the last stopped).
local min_id = tonumber(os.getenv("ID_MIN") or "1")
local max_id = tonumber(os.getenv("ID_MAX") or "1000")
local token = os.getenv("TOKEN")
local prefix = os.getenv("PATH_PREFIX") or "/api/v1/videos/"
local sequential = os.getenv("SEQUENTIAL") == "1"
local next_id = tonumber(os.getenv("START_ID") or "") or min_id

request = function()
  local id
  if sequential then
    id = next_id
    next_id = next_id < max_id and next_id + 1 or min_id
  else
    id = math.random(min_id, max_id)
  end
  local headers = {}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  return wrk.format("GET", prefix .. id, headers)
end
