-- Text for reports: valid UTF-8; for XML and HTML, only characters XML 1.0 allows,
-- escaped; for terminals and logs, no control character from outside data (a vendor's
-- case name holding "\n::error::" or ESC must not forge a CI annotation or move the
-- cursor).
local markup = {}

local REPLACEMENT = "\239\191\189" -- U+FFFD

-- Valid UTF-8: every byte that does not start a valid sequence becomes U+FFFD. Shared
-- by the reporters (the JSON report must be UTF-8 too, RFC 8259 8.1).
function markup.utf8(s)
  s = tostring(s)
  if not s:find("[\128-\255]") then return s end -- ASCII (most text): valid as it is
  local out, i = {}, 1
  while i <= #s do
    local ok, len = pcall(utf8.len, s, i)
    if ok and len then
      out[#out + 1] = s:sub(i)
      break
    end
    -- utf8.len returns nil and the position of the first invalid byte.
    local bad = ok and select(2, utf8.len(s, i)) or i
    out[#out + 1] = s:sub(i, bad - 1) .. REPLACEMENT
    i = bad + 1
  end
  return table.concat(out)
end

-- Replace bytes that are not valid UTF-8 and code points XML 1.0 forbids.
function markup.clean(s)
  s = markup.utf8(s):gsub("[%z\1-\8\11\12\14-\31]", REPLACEMENT)
  return (s:gsub("\239\191[\190\191]", REPLACEMENT))
end

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

-- Escaped for element content and attribute values alike.
function markup.escape(s)
  if s == nil then return "" end
  s = tostring(s)
  -- Text with nothing to clean or escape (most of a report) is returned as it is.
  if not s:find("[%z\1-\8\11\12\14-\31&<>\"'\128-\255]") then return s end
  return (markup.clean(s):gsub("[&<>\"']", ENTITIES))
end

local C1 = { ["\194\133"] = "\\u0085", ["\226\128\168"] = "\\u2028", ["\226\128\169"] = "\\u2029" }
local NAMED = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\t" }

local function escape_controls(s, keep_newlines)
  s = markup.utf8(s):gsub("[%z\1-\31\127]", function(c)
    if keep_newlines and c == "\n" then return c end
    return NAMED[c] or ("\\x%02x"):format(c:byte())
  end)
  return (s:gsub("\194\133", C1):gsub("\226\128[\168\169]", C1))
end

-- One line for a terminal or log: every control character (newlines too) shown as an
-- escape (\n, \x1b), tabs kept.
function markup.line(s)
  return escape_controls(tostring(s), false)
end

-- Text for a terminal or log that may span lines: newlines and tabs kept, every other
-- control character escaped. The caller indents continuation lines, so that only its
-- own text starts a line.
function markup.text(s)
  return escape_controls(tostring(s), true)
end

return markup
