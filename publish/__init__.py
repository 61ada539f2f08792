"""What leaves the inventory: the static DCAT feed (feed.py); later the feed service and report."""

from publish.feed import DEFAULT_FORMATS, dataset_file_name, write_feed
from publish.feed_model import CatalogInfo, FeedDataset, FeedError, FeedRecordError, FeedResult, SourceInfo

__all__ = ["DEFAULT_FORMATS", "CatalogInfo", "FeedDataset", "FeedError", "FeedRecordError", "FeedResult",
           "SourceInfo", "dataset_file_name", "write_feed"]
