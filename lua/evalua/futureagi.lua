-- `require "evalua.futureagi"`: the futureagi client (lua/evalua/providers/futureagi.lua).
return require "evalua.providers.futureagi"
