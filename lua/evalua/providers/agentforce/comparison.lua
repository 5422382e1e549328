-- Salesforce custom evaluations (`string_comparison`, `numeric_comparison`) on the metric
-- that reports them: `metric.comparison = {kind, operator, actual, expected, actual_path,
-- expected_path}`. A custom evaluation is defined by parameters `{name = "operator" |
-- "actual" | "expected", value, isReference}`: `actual` is a JSONPath into the test case's
-- result (`$.generatedData.outcome`), `expected` a literal, or a JSONPath when isReference.
-- A comparison that could not be made -- an operator Salesforce does not know, a numeric
-- comparison without a number to compare -- is never a pass, whatever the document says.
local model = require "evalua.model"

local comparison = {}
local val, text, number = model.value, model.text, model.number

-- The operators of Salesforce's "Add Custom Evaluation Criteria to a Test Case" guide.
comparison.operators = {
  string_comparison = { "equals", "contains", "startswith", "endswith" },
  numeric_comparison = { "equals", "greater_than", "greater_than_or_equal", "less_than", "less_than_or_equal" },
}
local known = {}
for name, list in pairs(comparison.operators) do
  known[name] = {}
  for _, op in ipairs(list) do known[name][op] = true end
end

-- The parameters of a result by name ({operator = {value, isReference}, ...}).
local function parameters(r)
  local out, list = {}, val(r.parameters)
  for _, p in ipairs(type(list) == "table" and list or {}) do
    if type(p) == "table" and text(p.name) then out[text(p.name)] = p end
  end
  return out
end

-- Why the comparison could not be made, or nil.
local function problem(name, c)
  if c.operator and not known[name][c.operator:lower()] then
    return ("unknown operator '%s' for %s (Salesforce knows %s)")
      :format(c.operator, name, table.concat(comparison.operators[name], ", "))
  end
  if name ~= "numeric_comparison" or number(c.actual) then return nil end
  local where = c.actual_path and (" at " .. c.actual_path) or ""
  if c.actual == nil then return "no actual value" .. where .. " to compare" end
  return ("the actual value%s is not a number: %s"):format(where, c.actual)
end

-- Put the comparison of custom evaluation result `r` on `metric` (other metrics are left
-- alone); returns the metric.
function comparison.apply(metric, r)
  local name = metric.name
  if not known[name] then return metric end
  local p = parameters(r)
  local expected_ref = p.expected and val(p.expected.isReference) == true
  local c = {
    kind = name == "numeric_comparison" and "numeric" or "string",
    operator = p.operator and text(p.operator.value),
    actual = metric.actual,
    expected = metric.expected,
    actual_path = p.actual and text(p.actual.value),
    expected_path = expected_ref and text(p.expected.value) or nil,
  }
  local why = problem(name, c)
  if c.kind == "numeric" then c.actual, c.expected = number(c.actual) or c.actual, number(c.expected) or c.expected end
  metric.comparison = c
  if why then
    local said = metric.passed == true and "; Salesforce said PASS" or ""
    metric.passed = false
    metric.error = ("%s: %s%s%s"):format(name, why, said,
      metric.error and (" (Salesforce: " .. metric.error .. ")") or "")
  end
  return metric
end

return comparison
