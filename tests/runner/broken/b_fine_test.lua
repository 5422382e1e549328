test("still runs", function() expect(2):to_be(2) end)
