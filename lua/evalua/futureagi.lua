-- `require "evalua.futureagi"`: the futureagi client (lua/evalua/providers/futureagi/init.lua).
return require "evalua.providers.futureagi"
