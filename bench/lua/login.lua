-- POST /api/v1/auth/login with the bench user's credentials.
local body = string.format('{"email": "%s", "password": "%s"}', os.getenv("EMAIL"), os.getenv("PASSWORD"))

request = function()
  return wrk.format("POST", "/api/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
