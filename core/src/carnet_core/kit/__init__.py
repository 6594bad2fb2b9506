"""The plugin kit: scaffold an out-of-tree plugin (`carnet plugins new`), autogenerate its
migrations (`carnet migrations new`), check it for its CI (`carnet plugins check`) and extract
its messages (`carnet messages extract`). docs/PLUGINS.md is the guide."""
