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
t.done()
