-- Argo CD health check for offboarding.genesys-operator.io/GenesysUserOffboarding.
--
-- Outside Argo CD's built-in checks, install it in argocd-cm under
--   resource.customizations.health.offboarding.genesys-operator.io_GenesysUserOffboarding
-- Lua 5.1 without the string library, as Argo CD runs scripts from argocd-cm; `obj` is the
-- resource. The operator reports kstatus conditions (Ready, Reconciling, Stalled) and
-- status.observedGeneration; health_test.yaml and testdata/ hold one case per phase.
--
-- In order:
--   no status, or status.observedGeneration behind metadata.generation  -> Progressing
--   spec.suspend is true                                                -> Suspended
--   Stalled=True (ambiguous user, bad credentials, invalid spec, ...)   -> Degraded
--   Ready=True (offboarded, or the plan reported in Observe mode)       -> Healthy
--   Reconciling=True (working, Scheduled, WaitingForActiveConversation, AwaitingConfirmation,
--     AwaitingImpactAcknowledgement, Restoring, retrying after a
--     transient error)                                                 -> Progressing
--   Ready=False while not reconciling (DriftDetected in Observe mode)   -> Degraded
--   anything else (the operator has not reported yet)                   -> Progressing

local function find_condition(conditions, condition_type)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if type(condition) == "table" and condition.type == condition_type then
      return condition
    end
  end
  return nil
end

local function describe(condition, fallback)
  if condition == nil then
    return fallback
  end
  local reason = condition.reason or ""
  local message = condition.message or ""
  if reason ~= "" and message ~= "" then
    return reason .. ": " .. message
  end
  if reason ~= "" then
    return reason
  end
  if message ~= "" then
    return message
  end
  return fallback
end

local hs = {}
local status = obj.status

if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local ready = find_condition(status.conditions, "Ready")
local reconciling = find_condition(status.conditions, "Reconciling")
local stalled = find_condition(status.conditions, "Stalled")

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "spec.suspend is true: the operator does nothing until it is false"
  return hs
end

if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled, "Stalled")
  return hs
end

if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling, "Reconciling")
  return hs
end

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = describe(ready, "Not ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for the operator")
return hs
