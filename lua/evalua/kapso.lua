-- `require "evalua.kapso"`: the kapso client (lua/evalua/providers/kapso.lua).
return require "evalua.providers.kapso"
