-- Argo CD health of a gitview RepositoryTracker
-- (resource.customizations.health.gitview.dev_RepositoryTracker): suspended trackers are
-- Suspended; otherwise the kstatus conditions decide. Tested in Lua 5.1
-- (operator/tests/argocd_health.rs).
local hs = {}

-- The operator writes "" for an absent message; Lua treats "" as true.
local function text(value, default)
  if value == nil or value == "" then return default end
  return value
end

if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Tracker is suspended"
  return hs
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the gitview operator"
  return hs
end
if obj.status.observedGeneration ~= nil and obj.metadata.generation ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end
local ready, stalled
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Stalled" then stalled = c end
end
local message = ready ~= nil and text(ready.message, nil) or nil
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled.message, text(message, "Tracker is stalled"))
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(message, "Tracking")
else
  hs.status = "Progressing"
  hs.message = text(message, "Tracker is not ready yet")
end
return hs
