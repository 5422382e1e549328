-- `require "evalua.kapso"`: the kapso client (lua/evalua/providers/kapso/init.lua).
return require "evalua.providers.kapso"
