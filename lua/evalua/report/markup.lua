-- Text for reports: valid UTF-8; for XML and HTML, only characters XML 1.0 allows, escaped.
local markup = {}

local REPLACEMENT = "\239\191\189" -- U+FFFD

-- Valid UTF-8: every byte that does not start a valid sequence becomes U+FFFD. Shared
-- by the reporters (the JSON report must be UTF-8 too, RFC 8259 8.1).
function markup.utf8(s)
  s = tostring(s)
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
  return (markup.clean(s):gsub("[&<>\"']", ENTITIES))
end

return markup
