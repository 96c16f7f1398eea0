-- Argo CD health of a gitview Analysis (resource.customizations.health.gitview.dev_Analysis).
-- Follows the operator's kstatus conditions: a finished run is Healthy or Degraded by its phase,
-- Stalled=True (a missing profile or Secret, a refused repository or runner pod) is Degraded,
-- anything else is Progressing, with the runner's progress when it reported counts and the Ready
-- message otherwise. Tested in Lua 5.1 against the statuses the operator writes
-- (operator/tests/argocd_health.rs).
local hs = {}

-- The operator writes "" for an absent message; Lua treats "" as true.
local function text(value, default)
  if value == nil or value == "" then return default end
  return value
end

local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then return c end
  end
  return nil
end

if obj.status == nil or obj.status.phase == nil then
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

local phase = obj.status.phase
local ready = condition("Ready")
local stalled = condition("Stalled")
local message = ready ~= nil and text(ready.message, nil) or nil

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = text(message, "Analysis succeeded")
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = text(message, "Analysis failed")
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled.message, text(message, "Analysis is stalled"))
else
  hs.status = "Progressing"
  local progress = obj.status.progress
  if progress ~= nil and progress.stage ~= nil and progress.done ~= nil and progress.total ~= nil then
    -- Counts the runner reported: "Running: extract 420/1000".
    hs.message = phase .. ": " .. progress.stage .. " " .. progress.done .. "/" .. progress.total
  elseif message ~= nil then
    -- "Pending: attempt 1: ContainerCreating", "Retrying: attempt 1 failed (Error); ...".
    hs.message = phase .. ": " .. message
  else
    hs.message = phase
  end
end
return hs
