-- Argo CD health check for voicectl.dev/VoiceRollout (docs/gitops.md says how to install it).
--
-- Argo CD runs this with the rollout as `obj` and reads the table it returns: status is one of Healthy,
-- Progressing, Degraded, Suspended, Missing or Unknown, and message is shown beside it. It only reads what
-- the voicectl operator writes to status: phase, pause, message and conditions.
--
--   no status yet, or an older generation observed -> Progressing (the operator has not acted on it yet)
--   Progressing                                   -> Progressing
--   Paused, waiting for a person or for capacity  -> Suspended, with the pause's reason
--   Paused because its RolloutPolicy is unusable  -> Degraded: a broken policy is fixed in its source
--   Promoted                                      -> Healthy
--   RolledBack (a critical regression, an abort)  -> Degraded, with why
--   Failed (the canary Deployment is gone)        -> Degraded, with why
--
-- Lua 5.1 only (Argo CD runs gopher-lua) and no libraries beyond the base ones.
local hs = {}

local function conditionOf(status, conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function textOr(text, default)
  if text ~= nil and text ~= "" then
    return text
  end
  return default
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the voicectl operator to take up the rollout"
  return hs
end

local generation = tonumber(obj.metadata.generation)
local observed = tonumber(status.observedGeneration)
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the voicectl operator to act on generation " .. generation
  return hs
end

local phase = status.phase
if phase == "Promoted" then
  hs.status = "Healthy"
  hs.message = textOr(status.message, "Promoted")
  return hs
end

if phase == "RolledBack" or phase == "Failed" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. textOr(status.message, "no reason recorded")
  return hs
end

if phase == "Paused" then
  local paused = conditionOf(status, "Paused")
  local reason = nil
  if status.pause ~= nil then
    reason = status.pause.reason
  end
  if reason == nil and paused ~= nil then
    reason = paused.message
  end
  reason = textOr(reason, textOr(status.message, "Paused"))
  if paused ~= nil and paused.reason == "PolicyUnavailable" then
    hs.status = "Degraded"
  else
    hs.status = "Suspended"
  end
  hs.message = reason
  return hs
end

if phase == "Progressing" then
  hs.status = "Progressing"
  hs.message = textOr(status.message, "Progressing")
  return hs
end

-- A phase this check does not know (a newer operator): go by the conditions every version writes.
local degraded = conditionOf(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = textOr(degraded.message, phase)
  return hs
end
local completed = conditionOf(status, "Completed")
if completed ~= nil and completed.status == "True" then
  hs.status = "Healthy"
  hs.message = textOr(completed.message, phase)
  return hs
end
hs.status = "Unknown"
hs.message = "VoiceRollout phase " .. tostring(phase) .. " is not known to this health check"
return hs
