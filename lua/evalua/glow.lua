-- `require "evalua.glow"`: the glow client (lua/evalua/providers/glow.lua).
return require "evalua.providers.glow"
