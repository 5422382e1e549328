-- `require "evalua.agentforce"`: the agentforce client (lua/evalua/providers/agentforce/init.lua).
return require "evalua.providers.agentforce"
