-- json: encoding rules evalua adds over cjson, decode errors, null, depth limit.
local t = require "tap"

t.is(json.encode { 1, 2, 3 }, "[1,2,3]", "sequence encodes as array")
t.is(json.encode {}, "{}", "plain empty table encodes as object")
t.is(json.encode(json.array()), "[]", "json.array() encodes as []")
t.is(json.encode { ids = json.array {} }, '{"ids":[]}', "empty array inside an object")
t.ok(json.is_array(json.array {}) and not json.is_array {}, "is_array tells marked tables")
t.is(json.encode { a = json.null }, '{"a":null}', "json.null encodes null")
t.is(json.encode(require("cjson").null), "null", "cjson.null is the same null")
t.is(json.encode("a\"b\\c\n\1"), '"a\\"b\\\\c\\n\\u0001"', "strings escaped")
t.is(json.encode(0.1), "0.1", "floats use the shortest exact form")
t.is(json.encode(3.0), "3", "integral floats are written as integers (JSON has one number type)")
t.is(json.encode({ ["a\0b"] = 1, ["a\0c"] = 2 }, { sort_keys = true }), '{"a\\u0000b":1,"a\\u0000c":2}',
  "keys with NUL bytes are kept whole")
t.is(json.encode(42), "42", "integers")
t.like(json.encode { [1] = "a", [3] = "c" }, '^{', "sparse table becomes an object")
t.is(json.encode({ b = 1, a = { d = 1, c = 2 } }, { sort_keys = true }), '{"a":{"c":2,"d":1},"b":1}', "sort_keys")
t.is(json.encode({ a = { 1 } }, { indent = 2, sort_keys = true }), '{\n  "a": [\n    1\n  ]\n}', "indent")

local cyc = {}
cyc.self = cyc
t.raises(function() json.encode(cyc) end, "json.encode: nesting deeper than 1000 levels", "cycle is an error")
t.raises(function() json.encode { a = { 1, 0 / 0 } } end, "NaN or infinity at %$%.a%[2%]", "NaN error names the path")
t.raises(function() json.encode { f = print } end, "cannot encode a function at %$%.f", "function error names the path")

-- Without sort_keys an object is written in the table's own (pairs) order.
do
  local mixed = { [1] = "a", [3] = "c", [2.5] = true, x = { y = "z" } }
  local order = {}
  for k in pairs(mixed) do order[#order + 1] = json.encode(tostring(k)) end
  local text = json.encode(mixed)
  local at = 0
  for _, k in ipairs(order) do at = text:find(k .. ":", at + 1, true) or math.huge end
  t.ok(at < math.huge, "unsorted keys come in pairs order")
  t.is_deeply(json.decode(text), { ["1"] = "a", ["3"] = "c", ["2.5"] = true, x = { y = "z" } },
    "unsorted: number keys written as strings, nested objects whole")
  t.is(json.encode({ a = { b = 1 } }, { indent = 2 }), '{\n  "a": {\n    "b": 1\n  }\n}', "indent without sort_keys")
  t.is(json.encode({}), "{}", "an empty table")
  t.raises(function() json.encode { a = { b = { c = print } } } end, "cannot encode a function at %$%.a%.b%.c$",
    "unsorted: a nested value's error names its path")
  t.raises(function() json.encode { a = { [print] = 1, b = print } } end,
    "table keys must be strings or numbers at %$%.a$", "a bad key is reported before a bad value, at its object")
end

local v = json.decode('{"a":[1,2,null],"s":"\\u00e9"}')
t.is(v.a[3], json.null, "null decodes to json.null")
t.is(v.s, "é", "unicode escapes decode to UTF-8")
t.raises(function() json.decode('{"a": tru}') end, "json%.decode: .*at character %d+", "decode error names the offset")
t.raises(function() json.decode(("["):rep(1001) .. ("]"):rep(1001)) end, "json%.decode: .*too many nested",
  "decode depth limit")
t.ok(pcall(json.decode, ("["):rep(900) .. ("]"):rep(900)), "900 levels decode")
t.raises(function() json.decode("NaN") end, "json%.decode", "NaN literal refused")
t.is(require("evalua.json"), json, "require 'evalua.json' is the global")
t.is(evalua.json, json, "evalua.json is the global")
t.ok(require("cjson.safe").decode("{") == nil, "cjson.safe preloaded")
t.is(math.type(require("cjson").decode("[1]")[1]), "float", "cjson itself is unchanged (numbers as doubles)")

-- Integers stay integers (issue 13): integral JSON numbers decode as Lua integers.
local doc = json.decode('{"seed":42,"n":3,"big":9007199254740993,"min":-9223372036854775808}')
t.is(math.type(doc.seed), "integer", "an integral number decodes as an integer")
t.is(tostring(doc.seed), "42", "tostring of a decoded integer has no .0")
t.is(("%s items"):format(doc.n), "3 items", "format %s of a decoded count")
t.is(doc.big, 9007199254740993, "2^53 + 1 stays exact")
t.is(doc.big - 1, 9007199254740992, "... and does integer arithmetic")
t.is(doc.min, math.mininteger, "-2^63 is the smallest integer")
t.is(json.encode(doc, { sort_keys = true }),
  '{"big":9007199254740993,"min":-9223372036854775808,"n":3,"seed":42}', "integers encode back exactly")
t.is(math.type(json.decode("9223372036854775808")), "float", "2^63 is past int64: a float")
t.is(json.decode("-9223372036854775809"), -9223372036854775809.0, "below -2^63: a float")
t.is(math.type(json.decode("18446744073709551616")), "float", "2^64: a float")
t.is(math.type(json.decode("1.0")), "float", "1.0 (a fraction written) is a float")
t.is(math.type(json.decode("1e2")), "float", "1e2 (an exponent written) is a float")
t.is(json.decode("1e2"), 100.0, "1e2 is 100.0")
t.is(json.decode("-0.5e-1"), -0.05, "negative fraction and exponent")
t.is(math.type(json.decode("-12")), "integer", "negative integers")
t.is(1 / json.decode("-0"), -math.huge, "-0 keeps its sign (a float -0.0, as cjson reads it)")
t.is(json.encode(json.decode("[-0]")), "[-0]", "-0 re-encodes as -0")
t.is(json.decode("1e400"), math.huge, "a number past the double range is inf, as cjson reads it")
t.is(json.decode(("1"):rep(80) .. ".5"), tonumber(("1"):rep(80) .. ".5"), "a long mantissa")

-- Arrays keep their kind: [] round-trips as [] (read-modify-write changes nothing).
local vendor = '{"cases":[],"meta":{},"rows":[[],[1,2.5,"x",null,true,false]],"total":0}'
local back = json.decode(vendor)
t.ok(json.is_array(back.cases) and json.is_array(back.rows[1]) and not json.is_array(back.meta),
  "decoded arrays are marked, objects are not")
t.is(json.encode(back, { sort_keys = true }), vendor, "a document re-encodes unchanged, [] and {} apart")
back.cases[1] = { id = 7 }
t.is(json.encode(back.cases), '[{"id":7}]', "a decoded array stays an array when filled")
t.is(json.encode(json.decode("[]")), "[]", "top-level []")
local tagged = json.decode('{"items":[1,2]}')
tagged.items.note = "x"
t.raises(function() json.encode(tagged) end, "json.encode: a json.array holds keys other than 1..n at %$%.items",
  "a field added to a decoded array is an error, not silently dropped")

-- Strings and escapes.
t.is(json.decode('"\\ud83d\\ude00 \\u00e9 \\/ \\b\\f\\n\\r\\t \\"\\\\"'), "\240\159\152\128 é / \b\f\n\r\t \"\\",
  "escapes and a surrogate pair")
t.is(json.decode('"a\\u0000b"'), "a\0b", "\\u0000 is a NUL byte in the string")
t.is(json.decode('{"k":"v","k":"w"}').k, "w", "a repeated key: the last one wins")
t.is(tostring(json.null), "null", "tostring(json.null) is null (issue 11)")
t.is(json.decode(" \t\r\n[ 1 , 2 ]\n ")[2], 2, "whitespace around values")

-- Refusals name the offset.
for _, case in ipairs {
  { "01", "unexpected text after the value at character 2" },
  { "1.", "digits must follow '.'" },
  { "1e", "digits must follow the exponent" },
  { "-", "invalid number at character 1" },
  { "[1,]", "at character 4" },
  { '{"a":1,}', "expected a string key in object at character 8" },
  { '{"a" 1}', "expected ':' after object key" },
  { "[1 2]", "expected ',' or ']' in array at character 4" },
  { '"\\udc00"', "lone low surrogate" },
  { '"\\ud800x"', "high surrogate without its low half" },
  { '"\\x"', "invalid escape in string" },
  { '"abc', "unexpected end of string at character 1" },
  { '"a\0b"', "NUL byte in a string %(it must be written \\u0000%) at character 3" },
  { "[1]\0", "unexpected text after the value at character 4" },
  { "", "expected a value%) at character 1 %(the end of the text%)" },
  { "nul", "invalid token" },
  { "+1", "invalid token" },
} do
  local ok, err = pcall(json.decode, case[1])
  t.ok(not ok and tostring(err):find("^json%.decode: ") and tostring(err):find(case[2]),
    ("decode %q refused: %s"):format(case[1], case[2]))
  if ok or not tostring(err):find(case[2]) then t.diag(tostring(err)) end
end

-- json.decoder: the same text in pieces gives the same value or the same error, however cut
-- (the fuzz target's own check: every cut, one byte at a time, and cjson as the reference).
local check_pieces = dofile("tests/fuzz/fuzz_json_decode.lua")
local docs = {
  '{"runId":"4KB","n":9007199254740993,"x":-0.5e-3,"ok":true,"no":false,"z":null,"e":[],"o":{},'
    .. '"s":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\","a":[1,[2,[3,{"b":[]}]]],"k":"v","k":"w"}',
  "  [ 1 , 2.0 , -0 , 1e3 ]  ",
  '"abc', "[1,]", '{"a" 1}', "[1 2]", '"\\ud800x"', '"a\0b"', "01", "-", "tru", "[1]x", "", "   ",
}
for _, text in ipairs(docs) do
  local ok, err = pcall(check_pieces, text)
  t.ok(ok, ("json.decoder of %q in pieces = json.decode"):format(text:sub(1, 30)))
  if not ok then t.diag(tostring(err)) end
end
local in_three = json.decoder()
in_three:feed(docs[1]:sub(1, 9))
in_three:feed(docs[1]:sub(10, 29))
in_three:feed(docs[1]:sub(30))
local cut_doc = in_three:finish()
t.ok(math.type(cut_doc.n) == "integer" and cut_doc.n == 9007199254740993 and json.is_array(cut_doc.e)
  and cut_doc.k == "w",
  "json.decoder keeps integers exact, marks empty arrays, the last repeated key wins")
local d = json.decoder()
local fed, err = pcall(d.feed, d, '{"a":[1,}')
t.ok(not fed and tostring(err):find("invalid token %(expected a value%) at character 9$"),
  "json.decoder: an error in a piece raises at once, with the offset in the whole text")
fed, err = pcall(d.feed, d, "]}")
t.ok(not fed and tostring(err):find("at character 9$"), "and again on the next feed")
d = json.decoder()
d:feed("[1")
fed, err = pcall(d.finish, d)
t.ok(not fed and err == select(2, pcall(json.decode, "[1")), "finish on an incomplete text: json.decode's error")
d = json.decoder()
d:feed("[1]")
t.is(d:finish()[1], 1, "finish -> the value")
fed, err = pcall(function() d:feed("2") end)
t.ok(not fed and tostring(err):find("json_test.lua:%d+: calling 'feed' on bad self %(the document is complete"),
  "no feed after finish")
-- The encoder is shared and reused; a finalizer that encodes while an encode allocates
-- (sort_keys makes a key list per object) gets its own, and neither output is disturbed.
do
  local cases = {}
  for i = 1, 2000 do cases[i] = { b = i, a = ("v"):rep(i % 40), c = { z = 1, y = json.array() } } end
  local want = json.encode(cases, { sort_keys = true })
  local inner, bad = 0, 0
  local function litter()
    for _ = 1, 2000 do
      setmetatable({}, { __gc = function()
        inner = inner + 1
        if json.encode({ k = { 1, 2 } }) ~= '{"k":[1,2]}' then bad = bad + 1 end
      end })
    end
  end
  local same = true
  for _ = 1, 5 do
    litter()
    same = same and json.encode(cases, { sort_keys = true }) == want
  end
  collectgarbage()
  t.ok(same and inner > 0 and bad == 0, ("encodes from finalizers (%d) left the outer output intact"):format(inner))
  t.is(json.encode({ 1, 2 }), "[1,2]", "the shared encoder is free again afterwards")
  t.ok(not pcall(json.encode, { f = print }) and json.encode({ x = 1 }) == '{"x":1}', "and after an error")
end

t.done()
