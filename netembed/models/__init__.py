"""The models: the graph view, the cell encoder, the predictors, pretraining and the pretrained hub."""
