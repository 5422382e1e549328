-- `require "evalua.agentforce"`: the agentforce client (lua/evalua/providers/agentforce.lua).
return require "evalua.providers.agentforce"
