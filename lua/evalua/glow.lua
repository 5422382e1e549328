-- `require "evalua.glow"`: the glow client (lua/evalua/providers/glow/init.lua).
return require "evalua.providers.glow"
