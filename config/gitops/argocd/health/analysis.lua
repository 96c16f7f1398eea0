-- Argo CD health of a gitview Analysis (resource.customizations.health.gitview.dev_Analysis).
-- Follows the operator's kstatus conditions: Stalled -> Degraded, a finished run -> Healthy or
-- Degraded by its phase, anything else -> Progressing.
local hs = {}
local function condition(obj, type)
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
local ready = condition(obj, "Ready")
local stalled = condition(obj, "Stalled")
local message = ""
if ready ~= nil and ready.message ~= nil then message = ready.message end

if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message ~= "" and message or "Analysis succeeded"
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = message ~= "" and message or "Analysis failed"
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.message or "Analysis is stalled"
else
  hs.status = "Progressing"
  local progress = obj.status.progress
  if progress ~= nil and progress.stage ~= nil then
    hs.message = phase .. ": " .. progress.stage
    if progress.done ~= nil and progress.total ~= nil then
      hs.message = hs.message .. " " .. progress.done .. "/" .. progress.total
    end
  else
    hs.message = message ~= "" and message or phase
  end
end
return hs
