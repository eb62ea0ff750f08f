"""Model-independent computations behind the evidence pages of the edition.

Each module returns plain dataclasses, lists or numpy arrays and prints
nothing, so that a book page can render the result as a table or a figure.
None of them imports TensorFlow: a model enters only as a plain callable
(see :mod:`.occlusion`).

- :mod:`.vocabulary`: the 1000 ImageNet-1k classes sorted into coarse groups,
  and a search of the class names for professions and roles.
- :mod:`.wordnet_groups`: the WordNet 3.0 rule that produced the group table
  ``ccs_transfer/data/imagenet_groups.csv``.
- :mod:`.label_audit`: exact and near duplicates, cross-class files, class
  balance and image sizes of a ``<root>/<class>/*.jpg`` photo collection.
- :mod:`.dhash`: the difference hash used for near duplicates.
- :mod:`.occlusion`: occlusion sensitivity maps for any batch classifier.
- :mod:`.people`: photographs of people that installed packages ship.
- :mod:`.projection`: 2-D projections (PCA, optional t-SNE) of feature vectors.
- :mod:`.confusion`: confusion matrix, per-class accuracy, confident mistakes.
- :mod:`.preprocessing`, :mod:`.saliency`, :mod:`.imagenet_view`,
  :mod:`.head_evaluation`, :mod:`.audit_split`, :mod:`.people_readings`,
  :mod:`.professions`, :mod:`.tables`, :mod:`.leading_components`: the
  experiments of the evidence pages; ``saliency`` imports TensorFlow only
  inside the function that computes gradients.
- :mod:`.figures_classifier`, :mod:`.figures_flowers`: their figures, with
  alt text generated from the data.
"""
