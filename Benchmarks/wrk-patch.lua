-- wrk script of the api-patch benchmark: PATCH random secrets of a 1,000-secret store.
-- Run with as many threads as connections (-t16 -c16), so each thread owns one connection and
-- its requests strictly alternate with their responses. Thread i writes only the secrets
-- SECRET_j with j % threads == i - 1, and logs every request it sends ("S name value") and
-- every answer ("A status name value") to LOGDIR/thread-i.log, so the benchmark can check
-- afterwards that each secret holds the last value its client wrote (zero lost updates).
-- Arguments (after --): TOKEN COUNT THREADS LOGDIR
local next_id = 1

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
end

function init(args)
    local token, count, threads, logdir = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
    names = {}
    for i = id - 1, count - 1, threads do
        names[#names + 1] = string.format("SECRET_%05d", i)
    end
    log = io.open(logdir .. "/thread-" .. id .. ".log", "w")
    log:setvbuf("line")
    headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
    sequence = 0
    math.randomseed(id * 7919)
end

function request()
    sequence = sequence + 1
    current = names[math.random(#names)]
    value = string.format("wrk-t%d-n%d-%08x", id, sequence, math.random(0, 0x7fffffff))
    log:write("S ", current, " ", value, "\n")
    return wrk.format("PATCH", "/v1/environments/dev/secrets/" .. current, headers, '{"value":"' .. value .. '"}')
end

function response(status, headers, body)
    log:write("A ", status, " ", current, " ", value, "\n")
end
